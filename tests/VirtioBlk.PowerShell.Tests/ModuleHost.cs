using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;
using System.IO;
using System.Linq;
using System.Management.Automation;
using System.Management.Automation.Runspaces;
using Xunit;

namespace VirtioBlk.PowerShell.Tests;

/// <summary>
/// The module hosted in this process: PowerShell.Create over an InitialSessionState that imports the built manifest,
/// so the views and type data load as they do for a user (importing the bare DLL would load neither). One runspace
/// per test class (a class fixture); the classes run side by side, each in its own runspace.
/// </summary>
public sealed class ModuleHost : IDisposable
{
    private readonly System.Management.Automation.PowerShell _owner;

    public ModuleHost()
    {
        var iss = InitialSessionState.CreateDefault2();
        iss.ImportPSModule(ManifestPath);
        // A module that fails to import must fail the tests, not leave a runspace without the cmdlets.
        iss.ThrowOnRunspaceOpenError = true;
        _owner = System.Management.Automation.PowerShell.Create(iss);
        Runspace = _owner.Runspace;
        // Plain text: no ANSI sequences in rendered views, whatever the environment says.
        Run("$PSStyle.OutputRendering = 'PlainText'").ThrowIfFailed();
    }

    public Runspace Runspace { get; }

    /// <summary>
    /// The manifest to import: $VIRTIOBLK_MANIFEST (build.ps1 sets it), else VirtioBlk.psd1 at the repository root
    /// above this test's output folder. Missing is a failure: without the module no test here means anything.
    /// </summary>
    public static string ManifestPath { get; } = FindManifest();

    private static string FindManifest()
    {
        string? env = Environment.GetEnvironmentVariable("VIRTIOBLK_MANIFEST");
        if (!string.IsNullOrEmpty(env))
        {
            return File.Exists(env) ? Path.GetFullPath(env) : throw new FileNotFoundException($"VIRTIOBLK_MANIFEST names no file: {env}");
        }

        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "VirtioBlk.psd1");
            if (File.Exists(candidate) && File.Exists(Path.Combine(dir.FullName, "out/bin/VirtioBlk.PowerShell.dll")))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException("VirtioBlk.psd1 with a built out/bin/VirtioBlk.PowerShell.dll was not found above "
            + AppContext.BaseDirectory + "; build first (build.ps1 -Task Build) or set VIRTIOBLK_MANIFEST.");
    }

    /// <summary>Runs a script with variables set first; a terminating error is caught and returned, not thrown.</summary>
    public PsResult Run(string script, params (string Name, object? Value)[] variables)
    {
        foreach ((string name, object? value) in variables)
        {
            Runspace.SessionStateProxy.SetVariable(name, value);
        }

        using var ps = System.Management.Automation.PowerShell.Create();
        ps.Runspace = Runspace;
        ps.AddScript(script);
        Collection<PSObject> output;
        RuntimeException? terminating = null;
        try
        {
            output = ps.Invoke();
        }
        catch (RuntimeException e)
        {
            terminating = e;
            output = new Collection<PSObject>();
        }

        return new PsResult(output.ToList(), ps.Streams.Error.ToList(), terminating);
    }

    /// <summary>A property of an output object as PowerShell sees it, script properties of the type data included.</summary>
    public object? Property(PSObject o, string name)
    {
        // Script properties run in the thread's default runspace.
        Runspace? saved = Runspace.DefaultRunspace;
        Runspace.DefaultRunspace = Runspace;
        try
        {
            object? value = o.Properties[name]?.Value;
            return value is PSObject wrapped ? wrapped.BaseObject : value;
        }
        finally
        {
            Runspace.DefaultRunspace = saved;
        }
    }

    /// <summary>The .NET type that implements a cmdlet: the second half of its FullyQualifiedErrorIds.</summary>
    public string ImplementingType(string cmdlet)
        => Run($"(Get-Command {cmdlet} -Module VirtioBlk).ImplementingType.FullName").ThrowIfFailed().Output.Single().ToString();

    public void Dispose() => _owner.Dispose();
}

/// <summary>What one invocation gave: output, non-terminating errors, and the terminating error if any.</summary>
public sealed record PsResult(List<PSObject> Output, List<ErrorRecord> Errors, RuntimeException? Terminating)
{
    /// <summary>Every error, terminating or not, as ErrorRecords.</summary>
    public IEnumerable<ErrorRecord> AllErrors => Terminating is null ? Errors : Errors.Append(Terminating.ErrorRecord);

    public PsResult ThrowIfFailed()
    {
        ErrorRecord? first = AllErrors.FirstOrDefault();
        if (first is not null)
        {
            Assert.Fail($"the script failed: {first.FullyQualifiedErrorId}: {first}");
        }

        return this;
    }

    /// <summary>The one error the script wrote (terminating or not); fails when there is none or several.</summary>
    public ErrorRecord SingleError()
    {
        var all = AllErrors.ToList();
        Assert.True(all.Count == 1, $"expected one error, got {all.Count}: {string.Join(" | ", all.Select(e => e.FullyQualifiedErrorId + ": " + e))}");
        return all[0];
    }

    /// <summary>The rendered text of a script that ends in Out-String.</summary>
    public string Text => string.Concat(ThrowIfFailed().Output.Select(o => o.ToString()));
}
