using System.Collections.Generic;
using System.Linq;
using System.Management.Automation;
using VirtioBlk.PowerShell.Benchmark;

namespace VirtioBlk.PowerShell.Commands;

/// <summary>
/// Compare-VirtioBlkBenchmark: holds benchmark results against saved baselines, one object per figure (IOPS,
/// bandwidth, each latency percentile, errors), with the ratio and whether it regressed beyond -Threshold. Takes results
/// as Invoke-VirtioBlkBenchmark returns them, from Import-Clixml, from ConvertFrom-Json and from remoting.
/// </summary>
[Cmdlet(VerbsData.Compare, "VirtioBlkBenchmark")]
[OutputType(typeof(VirtioBlkBenchmarkFigure))]
public sealed class CompareVirtioBlkBenchmarkCommand : PSCmdlet
{
    private readonly Dictionary<(string Host, string Device), PSObject> _byKey = new();

    /// <summary>The baseline: one result, or many (a fleet's), matched to each -Difference by host and device.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public PSObject[] Reference { get; set; } = System.Array.Empty<PSObject>();

    /// <summary>The results to judge; from the pipeline too.</summary>
    [Parameter(Mandatory = true, Position = 1, ValueFromPipeline = true)]
    [ValidateNotNull]
    public PSObject[] Difference { get; set; } = System.Array.Empty<PSObject>();

    /// <summary>How much worse than the reference a figure may be before it counts as regressed, in percent ("10%" or 10).</summary>
    [Parameter(Position = 2)]
    [PercentTransformation]
    [ValidateRange(0.0, 1000.0)]
    public double Threshold { get; set; } = 10;

    /// <summary>Compare results whose knobs differ.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void BeginProcessing()
    {
        foreach (PSObject r in Reference)
        {
            if (BenchmarkBaseline.WhyNotAResult(r) is string why)
            {
                ThrowTerminatingError(ErrorRecords.NotABenchmarkResult("-Reference", why, r));
            }
            _byKey[(BenchmarkBaseline.HostOf(r), BenchmarkBaseline.Text(r, "Device"))] = r;
        }
    }

    protected override void ProcessRecord()
    {
        foreach (PSObject d in Difference)
        {
            if (BenchmarkBaseline.WhyNotAResult(d) is string why)
            {
                WriteError(ErrorRecords.NotABenchmarkResult("-Difference", why, d));
                continue;
            }

            string host = BenchmarkBaseline.HostOf(d), device = BenchmarkBaseline.Text(d, "Device");
            PSObject? reference = Reference.Length == 1 ? Reference[0] : _byKey.GetValueOrDefault((host, device));
            if (reference is null)
            {
                WriteError(ErrorRecords.BenchmarkReferenceNotFound(host, device, d));
                continue;
            }

            string knobs = BenchmarkBaseline.KnobDifferences(reference, d);
            if (knobs.Length > 0)
            {
                if (!Force)
                {
                    WriteError(ErrorRecords.BenchmarkKnobsDiffer(knobs, d));
                    continue;
                }
                WriteWarning($"Comparing {device} on {host} although its knobs differ from the reference's: {knobs}.");
            }

            foreach (VirtioBlkBenchmarkFigure f in BenchmarkBaseline.Compare(reference, d, Threshold))
            {
                WriteObject(f);
            }
        }
    }
}
