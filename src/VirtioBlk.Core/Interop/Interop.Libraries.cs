namespace VirtioBlk.Core.Interop;

internal static partial class Libraries
{
    // Exact soname: "libc" would probe several file names on every first call.
    internal const string Libc = "libc.so.6";
}
