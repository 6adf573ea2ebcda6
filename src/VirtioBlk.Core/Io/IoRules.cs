using System;
using System.Globalization;
using System.Text.RegularExpressions;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Devices;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Io;

/// <summary>
/// Every rule a request must pass before the core opens or submits anything, and every limit, stated once. The
/// sector-I/O session, the benchmark engine and the cmdlets all call these; a refusal is an
/// <see cref="IoRequestException"/> whose reason is data. All arithmetic is 64-bit and checked against the limit
/// before it is used to size memory.
/// </summary>
public static partial class IoRules
{
    /// <summary>The most bytes one Read-/Write-VirtioBlkSector call moves: the data is one managed array in memory.</summary>
    public const long MaxTransferBytes = 256L << 20;

    /// <summary>The largest benchmark block (bytes per I/O).</summary>
    public const int MaxBlockSize = 16 << 20;

    /// <summary>The deepest queue a ring is made for.</summary>
    public const int MaxQueueDepth = 4096;

    /// <summary>The most benchmark threads (one ring each).</summary>
    public const int MaxThreads = 1024;

    /// <summary>The most I/O memory one ring may pin (depth x block size): a bound well inside what a VM has.</summary>
    public const long MaxRingBufferBytes = 1L << 30;

    /// <summary>The most I/O memory all of a benchmark's rings together may pin.</summary>
    public const long MaxTotalBufferBytes = 4L << 30;

    /// <summary>Sectors are 512 bytes in every unit this module exposes, whatever the disk's logical block size.</summary>
    public const int SectorSize = 512;

    /// <summary>
    /// Checks a transfer of <paramref name="sectorCount"/> 512-byte sectors from <paramref name="sector"/>:
    /// a disk with a medium, both ends on a logical block boundary, at most <see cref="MaxTransferBytes"/>, inside the disk.
    /// <paramref name="countKnob"/> says what the count came from (a sector count, or the length of the data).
    /// </summary>
    public static void CheckSectorRange(DiskGeometry g, ulong sector, ulong sectorCount, IoKnob countKnob = IoKnob.Count)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (g.Sectors == 0)
        {
            throw new IoRequestException(IoProblem.NoMedium, IoKnob.Path,
                $"{g.Name} has no medium (its size is 0 sectors): a loop device without a backing file, or an ejected disk.")
            { Disk = g.Name };
        }

        ulong perBlock = (ulong)g.SectorsPerBlock;
        if (sector % perBlock != 0)
        {
            throw Unaligned(IoKnob.Sector, sector, perBlock, g);
        }

        if (sectorCount == 0)
        {
            throw new IoRequestException(IoProblem.Empty, countKnob, "There is nothing to transfer: the request covers no sector.") { Disk = g.Name };
        }

        if (countKnob == IoKnob.Count && sectorCount % perBlock != 0)
        {
            throw Unaligned(IoKnob.Count, sectorCount, perBlock, g);
        }

        if (sectorCount > (ulong)MaxTransferBytes / SectorSize)
        {
            ulong bytes = sectorCount <= ulong.MaxValue / SectorSize ? sectorCount * SectorSize : ulong.MaxValue;
            throw new IoRequestException(IoProblem.TooLarge, countKnob,
                $"{Describe(sectorCount, "sector")} ({bytes} bytes) in one call is more than the {MaxTransferBytes} bytes ({MaxTransferBytes >> 20} MiB) one call moves.")
            { Value = sectorCount, Limit = (ulong)MaxTransferBytes / SectorSize, Disk = g.Name };
        }

        if (sector >= g.Sectors || sectorCount > g.Sectors - sector)
        {
            throw new IoRequestException(IoProblem.BeyondEnd, IoKnob.Sector,
                sector >= g.Sectors
                    ? $"Sector {sector} is past the end of {g.Name}, whose last sector is {g.Sectors - 1}."
                    : $"Sectors {sector}..{sector + sectorCount - 1} go past the end of {g.Name}, whose last sector is {g.Sectors - 1}.")
            { Start = sector, Value = sectorCount, Limit = g.Sectors, Disk = g.Name };
        }
    }

    /// <summary>Checks data to be written: not empty, a whole number of logical blocks, at most <see cref="MaxTransferBytes"/>.</summary>
    public static void CheckDataLength(DiskGeometry g, long length)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (length <= 0)
        {
            throw new IoRequestException(IoProblem.Empty, IoKnob.Length, "There is nothing to write: the data is empty.") { Disk = g.Name };
        }

        if (length > MaxTransferBytes)
        {
            throw new IoRequestException(IoProblem.TooLarge, IoKnob.Length,
                $"{length} bytes in one call is more than the {MaxTransferBytes} bytes ({MaxTransferBytes >> 20} MiB) one call moves.")
            { Value = (ulong)length, Limit = (ulong)MaxTransferBytes, Disk = g.Name };
        }

        if (length % g.LogicalBlockSize != 0)
        {
            throw Unaligned(IoKnob.Length, (ulong)length, (ulong)g.LogicalBlockSize, g);
        }
    }

    /// <summary>A write to a read-only disk is refused on every path, whatever else the caller says.</summary>
    public static void CheckWritable(DiskGeometry g)
    {
        if (g.ReadOnly)
        {
            throw new IoRequestException(IoProblem.ReadOnlyDisk, IoKnob.Path,
                $"{g.Name} is read-only (/sys/block/{g.Name}/ro is 1).")
            { Disk = g.Name };
        }
    }

    /// <summary>
    /// The path for a request: <paramref name="requested"/>, or with null (auto) passthrough where it can work —
    /// a char device, CAP_SYS_ADMIN, a combination passthrough allows — else the block device. Returns the path
    /// and, for people, why. Refuses an explicit passthrough the disk cannot give.
    /// </summary>
    public static (IoPathKind Path, string Reason) ChoosePath(DiskIdentity disk, IoPathKind? requested, bool vectored, bool fixedBuffer)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (requested == IoPathKind.Block)
        {
            return (IoPathKind.Block, "the block path was asked for");
        }

        if (requested == IoPathKind.Passthrough)
        {
            // The switches first: the combination is refused whatever the disk.
            if (vectored && fixedBuffer)
            {
                throw VectoredFixedOnPassthrough();
            }

            if (!disk.IsVirtio)
            {
                throw new IoRequestException(IoProblem.PassthroughNeedsVirtio, IoKnob.Mode,
                    $"{disk.Disk} (driver: {disk.Driver ?? "none"}) is not a virtio-blk disk, so it has no passthrough char device.")
                { Disk = disk.Disk };
            }

            if (disk.CharDevicePath is null)
            {
                throw new IoRequestException(IoProblem.PassthroughUnavailable, IoKnob.Mode,
                    disk.CharDeviceRegistered
                        ? $"The kernel registered {disk.Disk}{DiskIdentity.CharDeviceSuffix} (class vblk-generic), but /dev/{disk.Disk}{DiskIdentity.CharDeviceSuffix} is missing."
                        : $"{disk.Disk} has no passthrough char device (/dev/{disk.Disk}{DiskIdentity.CharDeviceSuffix}): the running kernel does not carry the virtio-blk io_uring passthrough series.")
                { Disk = disk.Disk };
            }

            return (IoPathKind.Passthrough, "passthrough was asked for");
        }

        if (disk.CharDevicePath is null)
        {
            return (IoPathKind.Block, disk.IsVirtio ? "the disk has no passthrough char device" : "the disk is not virtio-blk");
        }

        if (vectored && fixedBuffer)
        {
            return (IoPathKind.Block, "passthrough cannot do vectored I/O on a registered buffer");
        }

        return ProcessCapabilities.HasSysAdmin()
            ? (IoPathKind.Passthrough, $"{disk.CharDevicePath} exists and this process has CAP_SYS_ADMIN")
            : (IoPathKind.Block, "passthrough commands need CAP_SYS_ADMIN, which this process lacks");
    }

    /// <summary>Checks the I/O mode switches against the path, the disk and the kernel.</summary>
    public static void CheckMode(DiskGeometry g, IoPathKind path, bool vectored, bool fixedBuffer, bool poll)
    {
        ArgumentNullException.ThrowIfNull(g);
        if (path == IoPathKind.Passthrough && vectored && fixedBuffer)
        {
            throw VectoredFixedOnPassthrough();
        }

        if (path == IoPathKind.Block && vectored && fixedBuffer && !KernelHasVectoredFixed())
        {
            throw new IoRequestException(IoProblem.VectoredFixedNeedsKernel, IoKnob.FixedBuffer,
                "Vectored I/O on a registered buffer needs IORING_OP_READV_FIXED/WRITEV_FIXED (Linux 6.15), which this kernel lacks.");
        }

        if (poll && !g.IoPoll)
        {
            throw new IoRequestException(IoProblem.PollUnavailable, IoKnob.Poll,
                $"{g.Name} has no poll queues (/sys/block/{g.Name}/queue/io_poll is 0), so polled I/O would fail with EOPNOTSUPP.")
            { Disk = g.Name };
        }
    }

    /// <summary>Checks that a node carries the path: passthrough needs the char device, the block path a block device.</summary>
    public static void CheckNode(DiskIdentity disk, IoPathKind path)
    {
        DiskNodeRole needed = path == IoPathKind.Passthrough ? DiskNodeRole.PassthroughCharDevice : DiskNodeRole.BlockDevice;
        if (disk.Role != needed)
        {
            throw new IoRequestException(IoProblem.WrongNode, IoKnob.Path,
                path == IoPathKind.Passthrough
                    ? $"Passthrough runs on the disk's char device (/dev/{disk.Disk}{DiskIdentity.CharDeviceSuffix}), not {disk.Requested}."
                    : $"The block path runs on the block device ({disk.BlockPath}), not {disk.Requested}.")
            { Disk = disk.Disk };
        }
    }

    /// <summary>
    /// Checks a verified run: only writes (<paramref name="writeOnly"/>) can be verified as they go, and every thread
    /// needs at least <paramref name="blocksNeeded"/> blocks of its own (<paramref name="blocksPerThread"/>).
    /// </summary>
    public static void CheckVerify(bool verifySwitch, bool writeOnly, bool mixedOrRead, ulong blocksPerThread, ulong blocksNeeded, int threads)
    {
        if (verifySwitch && mixedOrRead && !writeOnly)
        {
            throw new IoRequestException(IoProblem.VerifyNeedsWrite, IoKnob.Verify,
                "Verification checks what the run writes: it goes with a write workload; to check data written earlier, run a verify pass.");
        }

        if (blocksPerThread < blocksNeeded)
        {
            throw new IoRequestException(IoProblem.VerifyRangeTooSmall, IoKnob.Range,
                $"A verified run gives each of its {threads} thread(s) a part of the range of its own; a part of {blocksPerThread} block(s) is fewer than the {blocksNeeded} it needs (at least one, and the queue depth for sequential verified writes).")
            { Value = blocksPerThread, Minimum = blocksNeeded };
        }
    }

    /// <summary>Checks CPUs against the process's affinity mask (<paramref name="allowed"/>); -1 leaves a thread unpinned.</summary>
    public static void CheckCpus(int[]? cpus, int[] allowed, string allowedText)
    {
        if (cpus is null) return;
        foreach (int c in cpus)
        {
            if (c == -1 || Array.IndexOf(allowed, c) >= 0) continue;
            throw new IoRequestException(IoProblem.CpuNotAllowed, IoKnob.CpuAffinity,
                $"This process may run only on CPUs {allowedText} (its affinity mask, as taskset or a cpuset sets it); CPU {c} is not among them (-1 leaves a thread unpinned).")
            { Value = c < 0 ? null : (ulong)c };
        }
    }

    /// <summary>
    /// Checks a number against [<paramref name="minimum"/>, <paramref name="maximum"/>].
    /// </summary>
    public static void CheckRange(IoKnob knob, long value, long minimum, long maximum, string what)
    {
        if (value < minimum || value > maximum)
        {
            throw new IoRequestException(IoProblem.OutOfRange, knob, $"{what} must be {minimum} to {maximum}; {value} is not.")
            { Value = value < 0 ? null : (ulong)value, Minimum = minimum < 0 ? 0 : (ulong)minimum, Limit = (ulong)maximum };
        }
    }

    /// <summary>
    /// The bytes a ring of <paramref name="depth"/> I/Os of <paramref name="ioBytes"/> each pins, times
    /// <paramref name="rings"/>, checked against <see cref="MaxRingBufferBytes"/> and <see cref="MaxTotalBufferBytes"/>
    /// before anything is allocated. Returns the bytes per ring.
    /// </summary>
    public static long CheckBufferBytes(long ioBytes, int depth, int rings, IoKnob knob)
    {
        long perRing = ioBytes * depth; // both at most 2^31: no 64-bit overflow
        long total = perRing * rings;    // at most 2^62
        if (perRing > MaxRingBufferBytes || total > MaxTotalBufferBytes)
        {
            bool ring = perRing > MaxRingBufferBytes;
            long limit = ring ? MaxRingBufferBytes : MaxTotalBufferBytes;
            throw new IoRequestException(IoProblem.BufferTooLarge, knob,
                ring
                    ? $"{depth} I/Os of {ioBytes} bytes in flight would pin {perRing} bytes per ring, more than the {limit >> 20} MiB a ring may use."
                    : $"{rings} rings of {perRing} bytes would pin {total} bytes, more than the {limit >> 20} MiB a benchmark may use.")
            { Value = (ulong)(ring ? perRing : total), Limit = (ulong)limit };
        }

        return perRing;
    }

    /// <summary>
    /// Parses a part of the disk: "START-END" (END exclusive), "START+LENGTH" or "LENGTH", sizes in bytes or with
    /// K/M/G/T (binary, with or without B/iB) or S (512-byte sectors) suffixes. Checks it against the disk.
    /// </summary>
    public static (ulong Offset, ulong Length) ParseRange(string text, DiskGeometry g)
    {
        ArgumentNullException.ThrowIfNull(text);
        Match m = RangePattern().Match(text);
        if (!m.Success)
        {
            throw new IoRequestException(IoProblem.RangeMalformed, IoKnob.Range, $"'{text}' is not START-END, START+LENGTH or LENGTH.");
        }

        ulong a = ParseSize(m.Groups["a"].Value, text);
        ulong offset = 0, length;
        if (!m.Groups["op"].Success)
        {
            length = a;
        }
        else
        {
            ulong b = ParseSize(m.Groups["b"].Value, text);
            offset = a;
            if (m.Groups["op"].Value == "+")
            {
                length = b;
                if (length > ulong.MaxValue - offset)
                {
                    throw new IoRequestException(IoProblem.RangeOverflow, IoKnob.Range, $"'{text}' ends beyond 2^64 bytes.");
                }
            }
            else
            {
                if (b < a)
                {
                    throw new IoRequestException(IoProblem.RangeReversed, IoKnob.Range, $"'{text}' ends before it starts ({b} < {a}).")
                    { Value = b, Start = a };
                }

                length = b - a;
            }
        }

        if (length == 0)
        {
            throw new IoRequestException(IoProblem.RangeEmpty, IoKnob.Range, $"'{text}' covers no byte.");
        }

        if (offset >= g.SizeBytes || length > g.SizeBytes - offset)
        {
            throw new IoRequestException(IoProblem.RangeOutsideDisk, IoKnob.Range,
                $"'{text}' (bytes {offset}..{offset + length - 1}) goes past the end of {g.Name} ({g.SizeBytes} bytes).")
            { Start = offset, Value = length, Limit = g.SizeBytes, Disk = g.Name };
        }

        return (offset, length);
    }

    private static ulong ParseSize(string text, string whole)
    {
        Match m = SizePattern().Match(text.Trim());
        if (!m.Success)
        {
            throw new IoRequestException(IoProblem.RangeMalformed, IoKnob.Range, $"'{whole}': '{text}' is not a size.");
        }

        int shift = m.Groups["u"].Value.ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "S" => 9,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            "T" or "TB" or "TIB" => 40,
            _ => -1,
        };
        if (shift < 0)
        {
            throw new IoRequestException(IoProblem.RangeMalformed, IoKnob.Range, $"'{whole}': '{m.Groups["u"].Value}' is not a size unit (use K, M, G, T or S).");
        }

        // Exact decimal arithmetic: "1.5G" is 1610612736, and anything past 2^64 is an overflow, not a wrap.
        if (!decimal.TryParse(m.Groups["n"].Value, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out decimal n))
        {
            throw new IoRequestException(IoProblem.RangeOverflow, IoKnob.Range, $"'{whole}': {text} does not fit 64 bits.");
        }

        decimal bytes;
        try
        {
            bytes = decimal.Truncate(n * (1UL << shift));
        }
        catch (OverflowException)
        {
            throw new IoRequestException(IoProblem.RangeOverflow, IoKnob.Range, $"'{whole}': {text} does not fit 64 bits.");
        }

        return bytes <= ulong.MaxValue
            ? (ulong)bytes
            : throw new IoRequestException(IoProblem.RangeOverflow, IoKnob.Range, $"'{whole}': {text} does not fit 64 bits.");
    }

    private static IoRequestException Unaligned(IoKnob knob, ulong value, ulong step, DiskGeometry g)
        => new(IoProblem.Unaligned, knob,
            knob == IoKnob.Length
                ? $"The data is {value} bytes, not a multiple of {g.Name}'s logical block size ({g.LogicalBlockSize} bytes)."
                : $"{(knob == IoKnob.Sector ? "The start sector" : "The sector count")} {value} is not a multiple of {step}: {g.Name}'s logical block is {g.LogicalBlockSize} bytes ({step} sectors of 512 bytes), and I/O must start and end on a block boundary.")
        { Value = value, Step = step, Disk = g.Name, LogicalBlockSize = g.LogicalBlockSize };

    private static IoRequestException VectoredFixedOnPassthrough()
        => new(IoProblem.VectoredFixedOnPassthrough, IoKnob.Vectored,
            "Passthrough cannot do vectored I/O on a registered buffer: the kernel refuses VIRTBLK_URING_CMD_IO_VEC with IORING_URING_CMD_FIXED.");

    private static string Describe(ulong n, string unit) => n == 1 ? $"1 {unit}" : $"{n} {unit}s";

    /// <summary>Whether READV_FIXED/WRITEV_FIXED exist here (the kernel's answer, asked once per process).</summary>
    public static bool KernelHasVectoredFixed() => IoUringKernel.IsSupported(IoUringOp.ReadvFixed);

    [GeneratedRegex(@"^\s*(?<a>\d+(\.\d+)?\s*[A-Za-z]*)\s*(?:(?<op>[-+])\s*(?<b>\d+(\.\d+)?\s*[A-Za-z]*))?\s*$", RegexOptions.CultureInvariant)]
    private static partial Regex RangePattern();

    [GeneratedRegex(@"^(?<n>\d+(\.\d+)?)\s*(?<u>[A-Za-z]*)$", RegexOptions.CultureInvariant)]
    private static partial Regex SizePattern();
}
