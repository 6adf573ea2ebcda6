using System;
using System.Management.Automation;

namespace VirtioBlk.PowerShell.Benchmark;

/// <summary>A binding-time check that a number is a multiple of a fixed step (a block size of 512-byte sectors).</summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class ValidateMultipleOfAttribute : ValidateArgumentsAttribute
{
    public ValidateMultipleOfAttribute(long step) => Step = step;

    public long Step { get; }

    protected override void Validate(object arguments, EngineIntrinsics engineIntrinsics)
    {
        long value = Convert.ToInt64(arguments is PSObject p ? p.BaseObject : arguments, System.Globalization.CultureInfo.InvariantCulture);
        if (value % Step != 0)
        {
            throw new ValidationMetadataException($"{value} is not a multiple of {Step}. Give a multiple of {Step} (e.g. 4096).");
        }
    }
}
