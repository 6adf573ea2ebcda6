using System.Collections.Concurrent;
using VirtioBlk.Core.Abi;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// What a passthrough char device's kernel refused, learned once per device node and kept for the process: the
/// kernels in the field differ (the OpenAnolis variant refuses FLUSH and GET_ID), and the answer does not change
/// while the node exists. Keyed by the node's device number, so a disk removed and added again is asked again.
/// </summary>
public static class PassthroughSupport
{
    private static readonly ConcurrentDictionary<(string DevId, VirtioBlkRequestType Type), bool> RefusedTypes = new();

    /// <summary>Whether <paramref name="type"/> was refused on the node at <paramref name="charDevicePath"/>.</summary>
    public static bool IsRefused(string charDevicePath, VirtioBlkRequestType type)
        => RefusedTypes.ContainsKey((DeviceNodeInfo.Stat(charDevicePath).DevId, type));

    /// <summary>Records that the kernel refused <paramref name="type"/> with EOPNOTSUPP on this node.</summary>
    public static void Refused(string charDevicePath, VirtioBlkRequestType type)
        => RefusedTypes[(DeviceNodeInfo.Stat(charDevicePath).DevId, type)] = true;
}
