namespace VirtioBlk.PowerShell.Tests;
internal static class Placeholder { }
