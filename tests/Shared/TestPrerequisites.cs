using System;
using System.Diagnostics;
using System.IO;
using System.Linq;
using Xunit;

// Linked into both xunit projects (their csproj's <Compile Include="../Shared/*.cs" />): one home for how a test
// finds out what the machine lacks and runs a helper program.
namespace VirtioBlk.Tests.Support;

/// <summary>Preconditions: a test that needs something absent skips with the reason.</summary>
internal static partial class Require
{
    public static bool IsRoot => GetEuid() == 0;

    public static void Root(string why = "to create loop devices")
    {
        if (!IsRoot) Assert.Skip($"needs root ({why})");
    }

    public static void Tool(string name)
    {
        if (Which(name) is null) Assert.Skip($"needs '{name}' on PATH");
    }

    public static string? Which(string name)
        => (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin")
            .Split(':').Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);

    [System.Runtime.InteropServices.DllImport("libc.so.6", EntryPoint = "geteuid")]
    private static extern uint GetEuid();
}

internal static class Shell
{
    /// <summary>Runs a program, returns stdout; throws with stderr when it fails.</summary>
    public static string Run(string file, params string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using Process p = Process.Start(psi)!;
        // Both streams at once: a child that fills stderr while we wait on stdout would block.
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        }
        return stdout;
    }
}
