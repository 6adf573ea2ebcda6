using System;
using System.IO;
using System.Linq;
using System.Management.Automation;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>Devices the error cases point at: made once for the class, detached at its end.</summary>
public sealed class ErrorTargets : IDisposable
{
    public ErrorTargets()
    {
        RegularFile = Path.Combine(Path.GetTempPath(), $"virtioblk-pstest-{Guid.NewGuid():N}.bin");
        File.WriteAllBytes(RegularFile, new byte[4096]);
        if (!Require.IsRoot || Require.Which("losetup") is null)
        {
            NoLoopReason = "needs root and losetup to create loop devices";
            return;
        }

        try
        {
            Loop = LoopDevice.Create(1 << 20);
            Loop4K = LoopDevice.Create(1 << 20, sectorSize: 4096);
            ReadOnly = LoopDevice.Create(1 << 20, readOnly: true);
        }
        catch (Exception e)
        {
            NoLoopReason = $"could not create loop devices: {e.Message}";
        }
    }

    public LoopDevice? Loop { get; }
    public LoopDevice? Loop4K { get; }
    public LoopDevice? ReadOnly { get; }
    public string RegularFile { get; }
    public string? NoLoopReason { get; }

    /// <summary>The script with {loop}, {loop4k}, {ro}, {loopname}, {sectors} and {file} filled in; skips when it needs a loop device that could not be made.</summary>
    public string Fill(string template)
    {
        if (template.Contains("{loop", StringComparison.Ordinal) || template.Contains("{ro}", StringComparison.Ordinal) || template.Contains("{sectors}", StringComparison.Ordinal))
        {
            if (NoLoopReason is not null) Assert.Skip(NoLoopReason);
        }

        return template
            .Replace("{loop4k}", Loop4K?.Path)
            .Replace("{loopname}", Loop?.Name)
            .Replace("{loop}", Loop?.Path)
            .Replace("{ro}", ReadOnly?.Path)
            .Replace("{sectors}", Loop?.Sectors.ToString())
            .Replace("{file}", RegularFile);
    }

    public void Dispose()
    {
        Loop?.Dispose();
        Loop4K?.Dispose();
        ReadOnly?.Dispose();
        File.Delete(RegularFile);
    }
}

/// <summary>
/// The ErrorRecords a script sees for bad input, through the real cmdlets: the id (before the comma of the
/// FullyQualifiedErrorId; after it PowerShell puts the cmdlet's class), the category and the target. These are what
/// scripts branch on, so they are asserted; message text is not (it is being reworded).
/// </summary>
public sealed class ErrorRecordTests(ModuleHost host, ErrorTargets targets) : IClassFixture<ModuleHost>, IClassFixture<ErrorTargets>
{
    public static TheoryData<string, string, string, ErrorCategory, string> Cases() => new()
    {
        // script, cmdlet, id, category, target ({...} filled in as in the script)
        { "Get-VirtioBlkDevice vdzz", "Get-VirtioBlkDevice", "VirtioBlkDeviceNotFound", ErrorCategory.ObjectNotFound, "vdzz" },
        { "Get-VirtioBlkDevice {loopname}", "Get-VirtioBlkDevice", "VirtioBlkNotVirtioDisk", ErrorCategory.InvalidArgument, "{loopname}" },
        { "Read-VirtioBlkSector /dev/virtioblk-none 0", "Read-VirtioBlkSector", "VirtioBlkPathNotFound", ErrorCategory.ObjectNotFound, "/dev/virtioblk-none" },
        { "Read-VirtioBlkSector /tmp 0", "Read-VirtioBlkSector", "VirtioBlkNotBlockDevice", ErrorCategory.InvalidArgument, "/tmp" },
        { "Read-VirtioBlkSector {file} 0", "Read-VirtioBlkSector", "VirtioBlkNotBlockDevice", ErrorCategory.InvalidArgument, "{file}" },
        { "Read-VirtioBlkSector /dev/null 0", "Read-VirtioBlkSector", "VirtioBlkNotBlockDevice", ErrorCategory.InvalidArgument, "/dev/null" },
        { "Read-VirtioBlkSector {loop} {sectors}", "Read-VirtioBlkSector", "VirtioBlkBeyondEndOfDevice", ErrorCategory.InvalidArgument, "{loop}" },
        { "Read-VirtioBlkSector {loop} 2040 -Count 16", "Read-VirtioBlkSector", "VirtioBlkBeyondEndOfDevice", ErrorCategory.InvalidArgument, "{loop}" },
        { "Read-VirtioBlkSector {loop} 0 -Count 4194304", "Read-VirtioBlkSector", "VirtioBlkLengthTooLarge", ErrorCategory.LimitsExceeded, "{loop}" },
        { "Read-VirtioBlkSector {loop4k} 1", "Read-VirtioBlkSector", "VirtioBlkUnaligned", ErrorCategory.InvalidArgument, "{loop4k}" },
        { "Read-VirtioBlkSector {loop4k} 0 -Count 3", "Read-VirtioBlkSector", "VirtioBlkUnaligned", ErrorCategory.InvalidArgument, "{loop4k}" },
        { "Read-VirtioBlkSector {loop} 0 -Mode Passthrough", "Read-VirtioBlkSector", "VirtioBlkNotVirtioDisk", ErrorCategory.InvalidArgument, "{loop}" },
        { "Read-VirtioBlkSector {loop} 0 -Poll", "Read-VirtioBlkSector", "VirtioBlkPollUnavailable", ErrorCategory.NotEnabled, "{loop}" },
        { ",[byte[]]::new(100) | Write-VirtioBlkSector {loop} 0 -Confirm:$false", "Write-VirtioBlkSector", "VirtioBlkUnaligned", ErrorCategory.InvalidArgument, "{loop}" },
        { ",[byte[]]::new(0) | Write-VirtioBlkSector {loop} 0 -Confirm:$false", "Write-VirtioBlkSector", "VirtioBlkInvalidLength", ErrorCategory.InvalidArgument, "{loop}" },
        { ",[byte[]]::new(512) | Write-VirtioBlkSector {ro} 0 -Confirm:$false", "Write-VirtioBlkSector", "VirtioBlkReadOnly", ErrorCategory.PermissionDenied, "{ro}" },
        { ",[byte[]]::new(512) | Write-VirtioBlkSector {ro} 0 -Force -Confirm:$false", "Write-VirtioBlkSector", "VirtioBlkReadOnly", ErrorCategory.PermissionDenied, "{ro}" },
        { "Write-VirtioBlkSector {loop} 0 -SourcePath /virtioblk-none.bin -Confirm:$false", "Write-VirtioBlkSector", "VirtioBlkSourceUnreadable", ErrorCategory.ObjectNotFound, "/virtioblk-none.bin" },
        { "Test-VirtioBlkPassthrough {loop}", "Test-VirtioBlkPassthrough", "VirtioBlkNotVirtioDisk", ErrorCategory.InvalidArgument, "{loop}" },
        { "Invoke-VirtioBlkBenchmark {loop} -Mode Passthrough -IoCount 10", "Invoke-VirtioBlkBenchmark", "VirtioBlkNotVirtioDisk", ErrorCategory.InvalidArgument, "{loop}" },
        { "Invoke-VirtioBlkBenchmark {loop} -Poll -IoCount 10", "Invoke-VirtioBlkBenchmark", "VirtioBlkPollUnavailable", ErrorCategory.NotEnabled, "{loop}" },
        { "Invoke-VirtioBlkBenchmark {ro} -Operation Write -IoCount 10 -Confirm:$false", "Invoke-VirtioBlkBenchmark", "VirtioBlkReadOnly", ErrorCategory.PermissionDenied, "{ro}" },
        { "Invoke-VirtioBlkBenchmark /dev/null -IoCount 10", "Invoke-VirtioBlkBenchmark", "VirtioBlkNotBlockDevice", ErrorCategory.InvalidArgument, "/dev/null" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInputGivesOneErrorRecordWithItsIdCategoryAndTarget(string script, string cmdlet, string id, ErrorCategory category, string target)
    {
        PsResult r = host.Run(targets.Fill(script));
        ErrorRecord e = r.SingleError();
        Assert.Equal($"{id},{host.ImplementingType(cmdlet)}", e.FullyQualifiedErrorId);
        Assert.Equal(category, e.CategoryInfo.Category);
        Assert.Equal(targets.Fill(target), e.TargetObject?.ToString());
        Assert.NotNull(e.Exception);
        // A refused item writes nothing.
        Assert.Empty(r.Output);
    }

    [Fact]
    public void ARefusedWriteLeavesTheDiskAsItWas()
    {
        if (targets.NoLoopReason is not null) Assert.Skip(targets.NoLoopReason);
        LoopDevice loop = targets.Loop!;
        byte[] before = loop.Read(0, 4096);
        // 700 bytes: not a multiple of the logical block size, refused whole.
        host.Run($",[byte[]]::new(700) | Write-VirtioBlkSector {loop.Path} 0 -Confirm:$false").SingleError();
        Assert.Equal(before, loop.Read(0, 4096));
    }

    [Fact]
    public void WithErrorActionStopTheSameRecordTerminates()
    {
        PsResult r = host.Run("Read-VirtioBlkSector /tmp 0 -ErrorAction Stop; 'not reached'");
        Assert.NotNull(r.Terminating);
        Assert.Empty(r.Output);
        ErrorRecord e = r.Terminating!.ErrorRecord;
        Assert.Equal($"VirtioBlkNotBlockDevice,{host.ImplementingType("Read-VirtioBlkSector")}", e.FullyQualifiedErrorId);
        Assert.Equal("/tmp", e.TargetObject);
    }

    [Fact]
    public void ADiskThatRefusesOpensIsAccessDeniedWithTheDiskAsTarget()
    {
        // Only where the kernel refuses to open the disk (a host-protected root disk): the errno must map to
        // PermissionDenied. Reading only; nothing here writes to the machine's own disk.
        string disk = Require.VirtioDisk();
        string path = $"/dev/{disk}";
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read);
            Assert.Skip($"{path} opens on this machine, so there is no refusal to map");
        }
        catch (UnauthorizedAccessException)
        {
        }

        ErrorRecord e = host.Run($"Read-VirtioBlkSector {path} 0 -Mode Block").SingleError();
        Assert.Equal($"VirtioBlkAccessDenied,{host.ImplementingType("Read-VirtioBlkSector")}", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.PermissionDenied, e.CategoryInfo.Category);
        Assert.Equal(path, e.TargetObject);
    }
}
