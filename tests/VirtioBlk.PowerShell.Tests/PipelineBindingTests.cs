using System;
using System.Linq;
using System.Management.Automation;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>
/// The cmdlets chained as users chain them: Get-VirtioBlkDevice objects into the others, read results into writes,
/// and several devices through one benchmark. Bytes are compared with the loop devices' backing files.
/// </summary>
public sealed class PipelineBindingTests(ModuleHost host) : IClassFixture<ModuleHost>
{
    [Fact]
    public void AReadResultPipedIntoWriteCopiesItsBytes()
    {
        using LoopDevice source = LoopDevice.Create(seed: 11);
        using LoopDevice target = LoopDevice.Create(seed: 12);
        // The read result's Bytes property binds -InputObject by property name (alias Bytes).
        PsResult r = host.Run("Read-VirtioBlkSector $s 16 -Count 16 | Write-VirtioBlkSector $t -Sector 32 -PassThru -Confirm:$false",
            ("s", source.Path), ("t", target.Path)).ThrowIfFailed();
        PSObject written = Assert.Single(r.Output);
        Assert.Equal(32UL, host.Property(written, "Sector"));
        Assert.Equal(16UL, host.Property(written, "Count"));
        Assert.Equal(source.Content.AsSpan(16 * 512, 16 * 512).ToArray(), target.Read(32 * 512, 16 * 512));
        // Around the range, the target keeps its own bytes.
        Assert.Equal(target.Content.AsSpan(31 * 512, 512).ToArray(), target.Read(31 * 512, 512));
        Assert.Equal(target.Content.AsSpan(48 * 512, 512).ToArray(), target.Read(48 * 512, 512));
    }

    [Fact]
    public void RawBytesPipedIntoWriteBindByValue()
    {
        using LoopDevice source = LoopDevice.Create(seed: 21);
        using LoopDevice target = LoopDevice.Create(seed: 22);
        host.Run("Read-VirtioBlkSector $s 0 -Count 8 -Raw | Write-VirtioBlkSector $t -Sector 8 -Confirm:$false",
            ("s", source.Path), ("t", target.Path)).ThrowIfFailed();
        Assert.Equal(source.Content.AsSpan(0, 4096).ToArray(), target.Read(8 * 512, 4096));
    }

    [Fact]
    public void SeveralPipedBlocksAreWrittenInOrderAsOneRun()
    {
        using LoopDevice target = LoopDevice.Create(seed: 31);
        byte[] a = Enumerable.Repeat((byte)0xA1, 512).ToArray();
        byte[] b = Enumerable.Repeat((byte)0xB2, 1024).ToArray();
        PsResult r = host.Run("$a, $b | Write-VirtioBlkSector $t -Sector 100 -PassThru -Confirm:$false",
            ("a", a), ("b", b), ("t", target.Path)).ThrowIfFailed();
        Assert.Equal(3UL, host.Property(Assert.Single(r.Output), "Count"));
        Assert.Equal(a.Concat(b).ToArray(), target.Read(100 * 512, 1536));
    }

    [Fact]
    public void DevicesFromGetVirtioBlkDevicePipeIntoTestVirtioBlkPassthrough()
    {
        string[] disks = Require.VirtioDisks();
        if (disks.Length == 0) Assert.Skip("no virtio-blk disk on this machine");
        PsResult r = host.Run("Get-VirtioBlkDevice | Test-VirtioBlkPassthrough -ErrorAction SilentlyContinue");
        Assert.Equal(disks, r.Output.Select(o => (string)host.Property(o, "Disk")!).ToArray());
        Assert.All(r.Output, o => Assert.Equal("/dev/" + host.Property(o, "Disk"), host.Property(o, "Path")));
    }

    [Fact]
    public void ADeviceFromGetVirtioBlkDeviceBindsReadByItsPath()
    {
        // Reading (never writing) the machine's disk: it either reads, or is refused with the disk as the target;
        // both show that the piped device's Path reached the cmdlet.
        string disk = Require.VirtioDisk();
        PsResult r = host.Run("Get-VirtioBlkDevice $d | Read-VirtioBlkSector -Sector 0", ("d", disk));
        if (r.Output.Count == 1)
        {
            Assert.Equal(disk, host.Property(r.Output[0], "Disk"));
            Assert.Empty(r.AllErrors);
        }
        else
        {
            Assert.Empty(r.Output);
            Assert.Equal($"/dev/{disk}", r.SingleError().TargetObject);
        }
    }

    [Theory]
    [InlineData("$p | Invoke-VirtioBlkBenchmark -IoCount 200 -QueueDepth 2")]
    [InlineData("[pscustomobject]@{ Path = $p } | Invoke-VirtioBlkBenchmark -IoCount 200 -QueueDepth 2")]
    public void BenchmarkTakesItsDeviceByValueAndByPropertyName(string script)
    {
        using LoopDevice loop = LoopDevice.Create();
        PsResult r = host.Run(script, ("p", loop.Path)).ThrowIfFailed();
        PSObject result = Assert.Single(r.Output);
        Assert.Equal(loop.Name, host.Property(result, "Device"));
        Assert.Equal(200L, host.Property(result, "TotalIos"));
        Assert.Equal(0L, host.Property(result, "Errors"));
    }

    [Fact]
    public void OneBadDeviceInAPipelineFailsAloneAndTheOthersRun()
    {
        using LoopDevice first = LoopDevice.Create(seed: 41);
        using LoopDevice second = LoopDevice.Create(seed: 42);
        PsResult r = host.Run("$a, '/dev/null', $b | Invoke-VirtioBlkBenchmark -IoCount 100 -QueueDepth 1",
            ("a", first.Path), ("b", second.Path));
        Assert.Equal(new[] { first.Name, second.Name }, r.Output.Select(o => (string)host.Property(o, "Device")!).ToArray());
        ErrorRecord e = r.SingleError();
        Assert.Equal("/dev/null", e.TargetObject);
        Assert.StartsWith("VirtioBlkNotBlockDevice,", e.FullyQualifiedErrorId);
    }
}
