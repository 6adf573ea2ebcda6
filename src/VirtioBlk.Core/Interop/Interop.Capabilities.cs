using System.Runtime.InteropServices;

namespace VirtioBlk.Core.Interop;

internal static unsafe partial class Sys
{
    /// <summary>CAP_SYS_ADMIN, which the project's kernel and the posted series demand for every passthrough command.</summary>
    internal const int CapSysAdmin = 21;

    private const uint CapabilityVersion3 = 0x20080522;

    [StructLayout(LayoutKind.Sequential)]
    private struct CapHeader { public uint Version; public int Pid; }

    [StructLayout(LayoutKind.Sequential)]
    private struct CapData { public uint Effective, Permitted, Inheritable; }

    /// <summary>
    /// Clears <paramref name="cap"/> from the calling thread's effective set (capset(2) on the raw syscall changes
    /// this thread only; glibc's wrapper would broadcast). The permitted set keeps it.
    /// </summary>
    internal static void DropEffectiveCapability(int cap)
    {
        long nrCapget = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 90 : 125;
        CapHeader h = new() { Version = CapabilityVersion3 };
        CapData* d = stackalloc CapData[2];
        ErrnoText.ThrowIfFailed(Syscall3(nrCapget, (long)&h, (long)d, 0), IoOperationKind.Other, "capget");
        d[cap / 32].Effective &= ~(1u << (cap % 32));
        ErrnoText.ThrowIfFailed(Syscall3(nrCapget + 1, (long)&h, (long)d, 0), IoOperationKind.Other, "capset");
    }
}
