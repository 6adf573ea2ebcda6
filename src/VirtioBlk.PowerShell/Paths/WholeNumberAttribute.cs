using System;
using System.Globalization;
using System.Management.Automation;

namespace VirtioBlk.PowerShell;

/// <summary>
/// Refuses a number with a fractional part at binding time. PowerShell would otherwise round -Sector 2.5 to 2
/// silently and read the wrong sector.
/// </summary>
[AttributeUsage(AttributeTargets.Property | AttributeTargets.Field)]
public sealed class WholeNumberAttribute : ArgumentTransformationAttribute
{
    public override object? Transform(EngineIntrinsics engineIntrinsics, object? inputData)
    {
        object? value = inputData is PSObject pso ? pso.BaseObject : inputData;
        decimal? fraction = value switch
        {
            double d when double.IsNaN(d) || double.IsInfinity(d) => throw Refuse(value),
            double d => (decimal)(d - Math.Truncate(d)),
            float f when float.IsNaN(f) || float.IsInfinity(f) => throw Refuse(value),
            float f => (decimal)(f - MathF.Truncate(f)),
            decimal m => m - decimal.Truncate(m),
            string s when decimal.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out decimal m) => m - decimal.Truncate(m),
            _ => null,
        };
        return fraction is decimal x && x != 0 ? throw Refuse(value) : inputData;
    }

    private static ArgumentTransformationMetadataException Refuse(object? value)
        => new($"{Convert.ToString(value, CultureInfo.InvariantCulture)} is not a whole number: give a whole number of sectors (it is never rounded).");
}
