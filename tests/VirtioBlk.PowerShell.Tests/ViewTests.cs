using System;
using System.Globalization;
using System.Linq;
using System.Management.Automation;
using System.Text.RegularExpressions;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>
/// The default views of every output type rendered at fixed widths, as an 80- and a 120-column terminal shows
/// them: nothing wider than the terminal, every column of a table there with its header whole, and the values
/// readable (a number in a table is the number, not its last digits).
/// </summary>
public sealed class ViewTests(ModuleHost host) : IClassFixture<ModuleHost>
{
    private static string[] Lines(string text) => text.Replace("\r", "").Split('\n');

    private static void AssertFits(string text, int width)
    {
        foreach (string line in Lines(text))
        {
            Assert.True(line.Length <= width, $"{line.Length} > {width} columns: '{line}'");
        }
    }

    /// <summary>
    /// The column labels of the table view PowerShell picks for an object, from the loaded format data, so the test
    /// follows the view and the type wherever they move.
    /// </summary>
    private string[] TableLabels(PSObject sample)
    {
        PsResult r = host.Run(
            "(Get-FormatData -TypeName $o.PSObject.TypeNames[0]).FormatViewDefinition | Where-Object { $_.Control -is [System.Management.Automation.TableControl] } | " +
            "Select-Object -First 1 | ForEach-Object { $_.Control.Headers.Label }", ("o", sample)).ThrowIfFailed();
        string[] labels = r.Output.Select(o => o.ToString()).ToArray();
        Assert.NotEmpty(labels);
        return labels;
    }

    /// <summary>
    /// A table at a width: it fits, its header line names every column whole in order, and the dashes under each
    /// header are as long as the header (PowerShell cuts or stacks a header that has no room).
    /// </summary>
    private string[] AssertWholeTable(string text, PSObject sample, int width)
    {
        AssertFits(text, width);
        string[] lines = Lines(text).Where(l => l.Trim().Length > 0).ToArray();
        string[] labels = TableLabels(sample);
        Assert.True(lines.Length >= 3, $"no table in:\n{text}");
        // One header line, then the dashes: PowerShell stacks a header that has no room over several lines.
        string header = lines[0];
        string dashes = lines[1];
        Assert.True(dashes.Trim().Length > 0 && dashes.Trim(' ', '-').Length == 0,
            $"the {width}-column header does not fit on one line:\n{string.Join('\n', lines.Take(4))}");
        int at = 0;
        foreach (string label in labels)
        {
            int i = header.IndexOf(label, at, StringComparison.Ordinal);
            Assert.True(i >= 0, $"column '{label}' is not whole in the {width}-column header '{header}'");
            Assert.True(dashes.Length >= i + label.Length && dashes.Substring(i, label.Length).All(c => c == '-'),
                $"column '{label}' is not underlined whole at {width} columns:\n{header}\n{dashes}");
            at = i + label.Length;
        }

        return lines;
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void DeviceTableAndList(int width)
    {
        string disk = Require.VirtioDisk();
        PsResult device = host.Run("Get-VirtioBlkDevice $d", ("d", disk)).ThrowIfFailed();
        string size = (string)host.Property(device.Output.Single(), "SizeHuman")!;
        string serial = host.Property(device.Output.Single(), "Serial")?.ToString() ?? "";

        string table = host.Run($"Get-VirtioBlkDevice $d | Out-String -Width {width}", ("d", disk)).Text;
        string[] lines = AssertWholeTable(table, device.Output.Single(), width);
        Assert.Matches($@"^{disk}\s+{Regex.Escape(size)}\s", lines[2]);
        Assert.DoesNotContain("…", lines[2]);
        if (serial.Length > 0) Assert.EndsWith(serial, lines[2].TrimEnd());

        string list = host.Run($"Get-VirtioBlkDevice $d | Format-List | Out-String -Width {width}", ("d", disk)).Text;
        AssertFits(list, width);
        Assert.Matches($@"(?m)^Name\s+: {disk}$", list);
        Assert.Matches($@"(?m)^Size\s+: {Regex.Escape(size)} \(", list);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void SectorDataHexDump(int width)
    {
        using LoopDevice loop = LoopDevice.Create(seed: 5);
        string text = host.Run($"Read-VirtioBlkSector $p 0 -Count 2 | Out-String -Width {width}", ("p", loop.Path)).Text;
        AssertFits(text, width);
        Assert.Contains($"{loop.Path} (Block): sectors 0..1, 1024 bytes", text);
        // Every 16-byte line shows the disk offset, the bytes in hex and as text: the first and the last checked.
        foreach (int offset in new[] { 0, 1008 })
        {
            string hex = string.Join(' ', loop.Content.Skip(offset).Take(16).Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));
            Assert.Matches($"(?m)^{offset:X8}  {hex}  ", text);
        }
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void WriteResultTable(int width)
    {
        using LoopDevice loop = LoopDevice.Create(seed: 6);
        PSObject result = host.Run(",[byte[]]::new(1024) | Write-VirtioBlkSector $p 64 -PassThru -Confirm:$false", ("p", loop.Path)).ThrowIfFailed().Output.Single();
        string text = host.Run($"$r | Out-String -Width {width}", ("r", result)).Text;
        string[] lines = AssertWholeTable(text, result, width);
        Assert.Matches($@"^{Regex.Escape(loop.Path)}\s+Block\s+64\s+2\s+1024\s", lines[2]);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void PassthroughReportTableAndChecks(int width)
    {
        string disk = Require.VirtioDisk();
        PsResult report = host.Run("Test-VirtioBlkPassthrough $d", ("d", disk)).ThrowIfFailed();
        string verdict = host.Property(report.Output.Single(), "Verdict")!.ToString()!;

        string table = host.Run($"Test-VirtioBlkPassthrough $d | Out-String -Width {width}", ("d", disk)).Text;
        string[] lines = AssertWholeTable(table, report.Output.Single(), width);
        // The fixed columns are whole; the free-text reason at the right may be cut to fit (the list view has it all).
        Assert.Matches($@"^{disk}\s+{verdict}\s+(Passed|Failed|Skipped|Warning)\s", lines[2]);

        string checks = host.Run($"(Test-VirtioBlkPassthrough $d).Checks | Out-String -Width {width}", ("d", disk)).Text;
        AssertFits(checks, width);
        foreach (string name in new[] { "IoUring", "CharDevice", "Sqe128Ring", "PassthroughRead", "PollQueues" })
        {
            Assert.Matches($@"(?m)^Name\s+: {name}$", checks);
        }
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void BenchmarkTableListAndChart(int width)
    {
        using LoopDevice loop = LoopDevice.Create(seed: 7);
        PsResult run = host.Run("$global:vbResult = Invoke-VirtioBlkBenchmark $p -IoCount 2000 -QueueDepth 4 -SubmitBatch 2 -CompleteBatch 2; $global:vbResult",
            ("p", loop.Path)).ThrowIfFailed();
        PSObject r = run.Output.Single();
        string iops = ((double)host.Property(r, "Iops")!).ToString("N0", CultureInfo.CurrentCulture);
        // p99 as the 6-wide column shows it (whole numbers, k/M past 6 digits), from the module's own formatter.
        string p99 = host.Run("[VirtioBlk.PowerShell.Formatting.Compact]::Number($global:vbResult.LatP99Us, 6)").Text.Trim();

        string table = host.Run($"$global:vbResult | Out-String -Width {width}").Text;
        string[] lines = AssertWholeTable(table, r, width);
        Assert.Matches($@"^{loop.Name}\s+block\s+read\s+4K\s+4\s", lines[2]); // the compact 80-column row: mode, operation, 4K blocks, depth
        // The numbers are whole: IOPS and p99 as the result has them, errors last.
        Assert.Contains($" {iops} ", lines[2]);
        Assert.Contains($" {p99} ", lines[2]);
        Assert.EndsWith(" 0", lines[2].TrimEnd());

        string list = host.Run($"$global:vbResult | Format-List | Out-String -Width {width}").Text;
        AssertFits(list, width);
        Assert.Matches($@"(?m)^job\s+: {Regex.Escape(loop.Path)} \(Block\): read, bs=4096, iodepth=4", list);
        Assert.Matches(@"(?m)^result\s+: IOPS=", list);

        string chart = host.Run($"$global:vbResult | Format-Custom -View Chart | Out-String -Width {width}").Text;
        AssertFits(chart, width);
        Assert.Contains("latency distribution", chart);
    }

    [Theory]
    [InlineData(80)]
    [InlineData(120)]
    public void BenchmarkComparisonTable(int width)
    {
        // Compare runs both paths, so it needs the passthrough char device.
        string disk = Require.VirtioDisk();
        PsResult d = host.Run("Get-VirtioBlkDevice $d", ("d", disk)).ThrowIfFailed();
        if (!(bool)host.Property(d.Output.Single(), "PassthroughAvailable")!) Assert.Skip($"{disk} has no passthrough char device, which -Compare needs");
        if ((bool)host.Property(d.Output.Single(), "InUse")!) Assert.Skip($"{disk} is in use");
        PSObject comparison = host.Run("Invoke-VirtioBlkBenchmark $d -Compare -Rounds 1 -Seconds 0.5 -QueueDepth 2", ("d", "/dev/" + disk)).ThrowIfFailed().Output.Single();
        string table = host.Run($"$c | Out-String -Width {width}", ("c", comparison)).Text;
        string[] lines = AssertWholeTable(table, comparison, width);
        Assert.StartsWith(disk, lines[2]);
    }
}
