using System;
using System.Linq;
using System.Management.Automation;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>
/// How PowerShell binds the cmdlets' parameters: by position, by property name (and alias), mandatory ones, and the
/// declarative validation. Binding errors are PowerShell's own ids; the tests check that the module's declarations
/// make PowerShell raise them, so a script can rely on the refusal happening before anything is opened.
/// </summary>
public sealed class ParameterBindingTests(ModuleHost host) : IClassFixture<ModuleHost>
{
    [Fact]
    public void ReadBindsPathSectorAndCountByPosition()
    {
        using LoopDevice loop = LoopDevice.Create();
        PsResult r = host.Run("Read-VirtioBlkSector $p 8 16", ("p", loop.Path)).ThrowIfFailed();
        PSObject data = Assert.Single(r.Output);
        Assert.Equal(8UL, host.Property(data, "Sector"));
        Assert.Equal(16UL, host.Property(data, "Count"));
        Assert.Equal(loop.Content.AsSpan(8 * 512, 16 * 512).ToArray(), (byte[])host.Property(data, "Bytes")!);
    }

    [Theory]
    [InlineData("Path")]
    [InlineData("DevicePath")]
    public void ReadBindsThePathOfAPipedObjectByPropertyName(string property)
    {
        using LoopDevice loop = LoopDevice.Create();
        PsResult r = host.Run($"[pscustomobject]@{{ {property} = $p }} | Read-VirtioBlkSector -Sector 2", ("p", loop.Path)).ThrowIfFailed();
        PSObject data = Assert.Single(r.Output);
        Assert.Equal(loop.Content.AsSpan(2 * 512, 512).ToArray(), (byte[])host.Property(data, "Bytes")!);
    }

    [Fact]
    public void RawGivesOneByteArrayNotAStreamOfBytes()
    {
        using LoopDevice loop = LoopDevice.Create();
        PsResult r = host.Run("Read-VirtioBlkSector $p 0 -Count 8 -Raw", ("p", loop.Path)).ThrowIfFailed();
        byte[] bytes = Assert.IsType<byte[]>(Assert.Single(r.Output).BaseObject);
        Assert.Equal(loop.Content.AsSpan(0, 4096).ToArray(), bytes);
    }

    [Fact]
    public void GetDeviceTakesNamesByValueAndReportsEachMissingOneOnItsOwn()
    {
        string disk = Require.VirtioDisk();
        PsResult r = host.Run("'vdzz-none', $d | Get-VirtioBlkDevice", ("d", disk));
        PSObject device = Assert.Single(r.Output);
        Assert.Equal(disk, host.Property(device, "Name"));
        ErrorRecord e = r.SingleError();
        Assert.StartsWith("VirtioBlkDeviceNotFound,", e.FullyQualifiedErrorId);
        Assert.Equal("vdzz-none", e.TargetObject);
    }

    [Fact]
    public void GetDeviceExpandsWildcardsAndAWildcardThatMatchesNothingIsNoError()
    {
        string disk = Require.VirtioDisk();
        PsResult all = host.Run("Get-VirtioBlkDevice -Name 'vd*'").ThrowIfFailed();
        Assert.Equal(Require.VirtioDisks(), all.Output.Select(o => (string)host.Property(o, "Name")!).ToArray());
        PsResult none = host.Run("Get-VirtioBlkDevice -Name 'zzvirtio*'").ThrowIfFailed();
        Assert.Empty(none.Output);
        Assert.Contains(disk, all.Output.Select(o => (string)host.Property(o, "Name")!));
    }

    public static TheoryData<string, string, string> MissingMandatory() => new()
    {
        { "Read-VirtioBlkSector -Sector 0", "Read-VirtioBlkSector", "Path" },
        { "Read-VirtioBlkSector -Path /dev/null", "Read-VirtioBlkSector", "Sector" },
        { "Write-VirtioBlkSector -Path /dev/null -Sector 0", "Write-VirtioBlkSector", "InputObject" },
        { "Invoke-VirtioBlkBenchmark -QueueDepth 1", "Invoke-VirtioBlkBenchmark", "Path" },
    };

    [Theory]
    [MemberData(nameof(MissingMandatory))]
    public void AMissingMandatoryParameterIsRefusedBeforeTheCmdletRuns(string script, string cmdlet, string parameter)
    {
        // A host without a UI cannot prompt, so PowerShell refuses the call instead.
        ErrorRecord e = host.Run(script).SingleError();
        Assert.Equal($"MissingMandatoryParameter,{host.ImplementingType(cmdlet)}", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
        ParameterBindingException pbe = Assert.IsType<ParameterBindingException>(e.Exception, exactMatch: false);
        Assert.Contains(parameter, pbe.ParameterName.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    public static TheoryData<string, string, string, string, ErrorCategory> InvalidArguments() => new()
    {
        // Ranges and non-empty strings declared as validation attributes: refused at binding, before any open.
        { "Invoke-VirtioBlkBenchmark /dev/null -QueueDepth 0", "Invoke-VirtioBlkBenchmark", "QueueDepth", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -QueueDepth 4097", "Invoke-VirtioBlkBenchmark", "QueueDepth", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -BlockSize 100", "Invoke-VirtioBlkBenchmark", "BlockSize", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -SubmitBatch 0", "Invoke-VirtioBlkBenchmark", "SubmitBatch", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -ReadPercent 101", "Invoke-VirtioBlkBenchmark", "ReadPercent", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -Seconds 0", "Invoke-VirtioBlkBenchmark", "Seconds", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark /dev/null -Compare -Rounds 0", "Invoke-VirtioBlkBenchmark", "Rounds", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Invoke-VirtioBlkBenchmark -Path ''", "Invoke-VirtioBlkBenchmark", "Path", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Read-VirtioBlkSector -Path '' -Sector 0", "Read-VirtioBlkSector", "Path", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Get-VirtioBlkDevice -Name ''", "Get-VirtioBlkDevice", "Name", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Test-VirtioBlkPassthrough -Path ''", "Test-VirtioBlkPassthrough", "Path", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Read-VirtioBlkSector /dev/null 0 -Count 0", "Read-VirtioBlkSector", "Count", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        { "Read-VirtioBlkSector /dev/null 0 -Count -8", "Read-VirtioBlkSector", "Count", "ParameterArgumentValidationError", ErrorCategory.InvalidData },
        // Fractions are refused, never rounded to the neighbouring sector.
        { "Read-VirtioBlkSector /dev/null 2.5", "Read-VirtioBlkSector", "Sector", "ParameterArgumentTransformationError", ErrorCategory.InvalidData },
        { "Write-VirtioBlkSector /dev/null 7.5 -InputObject ([byte[]]::new(512)) -WhatIf", "Write-VirtioBlkSector", "Sector", "ParameterArgumentTransformationError", ErrorCategory.InvalidData },
        // Types: a negative sector and an unknown mode do not convert.
        { "Read-VirtioBlkSector /dev/null -1", "Read-VirtioBlkSector", "Sector", "CannotConvertArgumentNoMessage", ErrorCategory.InvalidArgument },
        { "Read-VirtioBlkSector /dev/null 0 -Mode Sideways", "Read-VirtioBlkSector", "Mode", "CannotConvertArgumentNoMessage", ErrorCategory.InvalidArgument },
        { "Invoke-VirtioBlkBenchmark /dev/null -Operation Erase", "Invoke-VirtioBlkBenchmark", "Operation", "CannotConvertArgumentNoMessage", ErrorCategory.InvalidArgument },
    };

    [Theory]
    [MemberData(nameof(InvalidArguments))]
    public void AnInvalidArgumentIsRefusedAtBinding(string script, string cmdlet, string parameter, string errorId, ErrorCategory category)
    {
        ErrorRecord e = host.Run(script).SingleError();
        Assert.Equal($"{errorId},{host.ImplementingType(cmdlet)}", e.FullyQualifiedErrorId);
        Assert.Equal(category, e.CategoryInfo.Category);
        ParameterBindingException pbe = Assert.IsType<ParameterBindingException>(e.Exception, exactMatch: false);
        Assert.Equal(parameter, pbe.ParameterName);
    }

    [Fact]
    public void AWriteWithASourceButNoTargetCannotPickBetweenPathAndLiteralPath()
    {
        // -SourcePath goes with -Path or -LiteralPath: with neither, PowerShell cannot tell which was meant.
        ErrorRecord e = host.Run("Write-VirtioBlkSector -Sector 0 -SourcePath /dev/null").SingleError();
        Assert.Equal($"AmbiguousParameterSet,{host.ImplementingType("Write-VirtioBlkSector")}", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
    }

    [Fact]
    public void WriteTakesInputObjectOrSourcePathNeverBoth()
    {
        ErrorRecord e = host.Run("Write-VirtioBlkSector /dev/null 0 -InputObject ([byte[]]::new(512)) -SourcePath /dev/null -WhatIf").SingleError();
        Assert.Equal($"AmbiguousParameterSet,{host.ImplementingType("Write-VirtioBlkSector")}", e.FullyQualifiedErrorId);
        Assert.Equal(ErrorCategory.InvalidArgument, e.CategoryInfo.Category);
    }
}
