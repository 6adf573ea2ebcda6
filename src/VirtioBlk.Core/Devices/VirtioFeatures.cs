using System.Collections.Generic;
using System.Globalization;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// Names for the bits of /sys/block/X/device/features: the features the driver negotiated with the device, one
/// character per bit, bit 0 first (virtio spec 5.2.3 for the block bits, 6 for the transport bits).
/// </summary>
public static class VirtioFeatures
{
    private static readonly Dictionary<int, string> Names = new()
    {
        // Block device bits (include/uapi/linux/virtio_blk.h). 0 and 7 are legacy-only.
        [0] = "VIRTIO_BLK_F_BARRIER",
        [1] = "VIRTIO_BLK_F_SIZE_MAX",
        [2] = "VIRTIO_BLK_F_SEG_MAX",
        [4] = "VIRTIO_BLK_F_GEOMETRY",
        [5] = "VIRTIO_BLK_F_RO",
        [6] = "VIRTIO_BLK_F_BLK_SIZE",
        [7] = "VIRTIO_BLK_F_SCSI",
        [9] = "VIRTIO_BLK_F_FLUSH",
        [10] = "VIRTIO_BLK_F_TOPOLOGY",
        [11] = "VIRTIO_BLK_F_CONFIG_WCE",
        [12] = "VIRTIO_BLK_F_MQ",
        [13] = "VIRTIO_BLK_F_DISCARD",
        [14] = "VIRTIO_BLK_F_WRITE_ZEROES",
        [15] = "VIRTIO_BLK_F_LIFETIME",
        [16] = "VIRTIO_BLK_F_SECURE_ERASE",
        [17] = "VIRTIO_BLK_F_ZONED",

        // Transport and ring bits (include/uapi/linux/virtio_config.h, virtio_ring.h).
        [24] = "VIRTIO_F_NOTIFY_ON_EMPTY",
        [27] = "VIRTIO_F_ANY_LAYOUT",
        [28] = "VIRTIO_RING_F_INDIRECT_DESC",
        [29] = "VIRTIO_RING_F_EVENT_IDX",
        [32] = "VIRTIO_F_VERSION_1",
        [33] = "VIRTIO_F_ACCESS_PLATFORM",
        [34] = "VIRTIO_F_RING_PACKED",
        [35] = "VIRTIO_F_IN_ORDER",
        [36] = "VIRTIO_F_ORDER_PLATFORM",
        [37] = "VIRTIO_F_SR_IOV",
        [38] = "VIRTIO_F_NOTIFICATION_DATA",
        [39] = "VIRTIO_F_NOTIF_CONFIG_DATA",
        [40] = "VIRTIO_F_RING_RESET",
        [41] = "VIRTIO_F_ADMIN_VQ",
    };

    /// <summary>The name of one feature bit, or "bit N" for a bit the module has no name for.</summary>
    public static string Name(int bit)
        => Names.TryGetValue(bit, out string? name) ? name : "bit " + bit.ToString(CultureInfo.InvariantCulture);

    /// <summary>Decodes the sysfs bit string ('1' = negotiated), bit 0 first, into names in bit order.</summary>
    public static string[] Decode(string bits)
    {
        var names = new List<string>();
        for (int bit = 0; bit < bits.Length; bit++)
        {
            if (bits[bit] == '1')
            {
                names.Add(Name(bit));
            }
        }

        return names.ToArray();
    }
}
