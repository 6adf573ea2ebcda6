using System;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Text;
using VirtioBlk.Core.Devices;

namespace VirtioBlk.PowerShell.Devices;

/// <summary>What Read-VirtioBlkSector read. The default view is a hex dump with absolute disk offsets.</summary>
public sealed class VirtioBlkSectorData
{
    /// <summary>The device node that carried the I/O (/dev/vdb or /dev/vdbc0).</summary>
    public string Path { get; internal set; } = "";

    /// <summary>Kernel name of the disk ("vdb").</summary>
    public string Disk { get; internal set; } = "";

    /// <summary>The path that ran: Block or Passthrough (never Auto).</summary>
    public string Mode { get; internal set; } = "";

    /// <summary>First sector, in 512-byte units.</summary>
    public ulong Sector { get; internal set; }

    /// <summary>Sectors read, in 512-byte units.</summary>
    public ulong Count { get; internal set; }

    /// <summary>Bytes read (Count * 512).</summary>
    public long Length { get; internal set; }

    /// <summary>Byte offset of the first byte on the disk (Sector * 512).</summary>
    public ulong Offset => Sector * 512;

    /// <summary>
    /// The data. Hidden (and ignored by ConvertTo-Json), so a JSON or CSV export or a list of a large read is not a
    /// number per byte; scripts use it as any byte[] (<c>$r.Bytes[0]</c>, <c>[IO.File]::WriteAllBytes($f, $r.Bytes)</c>),
    /// and Export-Clixml and remoting carry it whole.
    /// </summary>
    [Hidden]
    [Newtonsoft.Json.JsonIgnore]
    public byte[] Bytes { get; internal set; } = Array.Empty<byte>();

    /// <summary>The data as base64 text: what ConvertTo-Json and Export-Csv carry, and Write-VirtioBlkSector takes back.</summary>
    public string Base64 => Convert.ToBase64String(Bytes);

    public bool Vectored { get; internal set; }

    public bool Polled { get; internal set; }

    public bool FixedBuffer { get; internal set; }

    /// <summary>Time from the first submission to the last completion (opening the device not included).</summary>
    public double LatencyMicroseconds { get; internal set; }

    public override string ToString() => $"{Path} sectors {Sector}..{Sector + Count - 1} ({Length} bytes, {Mode})";
}

/// <summary>What Write-VirtioBlkSector -PassThru wrote.</summary>
public sealed class VirtioBlkSectorWriteResult
{
    /// <summary>The device node that carried the I/O.</summary>
    public string Path { get; internal set; } = "";

    public string Disk { get; internal set; } = "";

    /// <summary>The path that ran: Block or Passthrough.</summary>
    public string Mode { get; internal set; } = "";

    public ulong Sector { get; internal set; }

    public ulong Count { get; internal set; }

    public long Length { get; internal set; }

    public bool Vectored { get; internal set; }

    public bool Polled { get; internal set; }

    public bool FixedBuffer { get; internal set; }

    /// <summary>The data was made durable before returning (FLUSH on passthrough, fsync on the block path).</summary>
    public bool Flushed { get; internal set; }

    /// <summary>Time for the write (and the flush, with -Flush).</summary>
    public double LatencyMicroseconds { get; internal set; }

    public override string ToString() => $"{Path} sectors {Sector}..{Sector + Count - 1} ({Length} bytes written, {Mode})";
}

/// <summary>Hex dump text for the read view: 16 bytes a line, each line prefixed with its absolute disk offset.</summary>
public static class HexDump
{
    /// <summary>The whole view of one read: a header line, then the dump.</summary>
    public static string Format(VirtioBlkSectorData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        string switches = string.Join(", ", new[]
        {
            data.Vectored ? "vectored" : null,
            data.Polled ? "polled" : null,
            data.FixedBuffer ? "fixed buffer" : null,
        }.Where(s => s is not null));
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture,
            $"{data.Path} ({data.Mode}{(switches.Length > 0 ? ", " + switches : "")}): sectors {data.Sector}..{data.Sector + data.Count - 1}, {data.Length} bytes, {data.LatencyMicroseconds:0.0} us");
        text.Append('\n');
        text.Append(Dump(data.Bytes, data.Offset));
        return text.ToString();
    }

    /// <summary>"Offset            00 01 ... 0F  text" lines; offsets start at <paramref name="baseOffset"/>.</summary>
    public static string Dump(byte[] bytes, ulong baseOffset) => Dump(bytes, baseOffset, DefaultMaxLines);

    /// <summary>Lines of 16 bytes a dump shows at most before it says how much it left out.</summary>
    public const int DefaultMaxLines = 1024;

    /// <summary>
    /// A hexdump -C style dump: a run of identical 16-byte lines after the first is one "*" line (the next offset
    /// shows where it ends), and after <paramref name="maxLines"/> printed lines the rest is summarised in a note.
    /// </summary>
    public static string Dump(byte[] bytes, ulong baseOffset, int maxLines)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        // As many hex digits as the last offset needs, at least 8, so a line fits 80 columns on disks up to 4 GiB.
        ulong last = baseOffset + (ulong)Math.Max(bytes.Length - 1, 0);
        int digits = Math.Max(8, (64 - System.Numerics.BitOperations.LeadingZeroCount(last) + 3) / 4);
        string format = "X" + digits.ToString(CultureInfo.InvariantCulture);
        int lines = 0;
        bool starred = false;
        var text = new StringBuilder((Math.Min(bytes.Length / 16, maxLines) + 3) * (digits + 70));
        text.Append("Offset".PadLeft(digits)).Append("  00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F\n");
        for (int line = 0; line < bytes.Length; line += 16)
        {
            int n = Math.Min(16, bytes.Length - line);
            bool repeat = line >= 16 && n == 16 && bytes.AsSpan(line, 16).SequenceEqual(bytes.AsSpan(line - 16, 16));
            if (repeat && line + 16 < bytes.Length)
            {
                if (!starred)
                {
                    text.Append("*\n");
                    starred = true;
                }

                continue;
            }

            starred = false;
            if (lines >= maxLines)
            {
                text.Append("... ").Append(bytes.Length - line).Append(" more bytes from ")
                    .Append((baseOffset + (ulong)line).ToString(format, CultureInfo.InvariantCulture))
                    .Append(" (all of them: -Raw | Format-Hex)\n");
                break;
            }

            lines++;
            text.Append((baseOffset + (ulong)line).ToString(format, CultureInfo.InvariantCulture)).Append("  ");
            for (int i = 0; i < 16; i++)
            {
                if (i < n)
                {
                    text.Append(bytes[line + i].ToString("X2", CultureInfo.InvariantCulture)).Append(' ');
                }
                else
                {
                    text.Append("   ");
                }
            }

            text.Append(' ');
            for (int i = 0; i < n; i++)
            {
                byte b = bytes[line + i];
                text.Append(b is >= 0x20 and < 0x7F ? (char)b : '.');
            }

            text.Append('\n');
        }

        return text.ToString().TrimEnd('\n');
    }
}
