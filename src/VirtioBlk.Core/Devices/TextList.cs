using System;
using System.Collections.Generic;
using System.Collections.ObjectModel;

namespace VirtioBlk.Core.Devices;

/// <summary>
/// A list of names that is still readable where only its text survives: a table or Export-Csv shows
/// "a, b" rather than "System.String[]"; JSON and remoting still see a list.
/// </summary>
public sealed class TextList : ReadOnlyCollection<string>
{
    public static readonly TextList None = new(Array.Empty<string>());

    public TextList(IList<string> items) : base(items) { }

    public override string ToString() => string.Join(", ", this);
}
