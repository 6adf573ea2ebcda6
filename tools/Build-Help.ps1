#Requires -Version 7.4
<#
.SYNOPSIS
    Turns the module's markdown help (docs/help/*.md) into what Get-Help reads: one MAML file for the cmdlets
    (VirtioBlk.PowerShell.dll-Help.xml) and about_*.help.txt topics. Fails when the help is incomplete.
.DESCRIPTION
    The markdown is the only source of help text. The facts about each parameter (type, position, pipeline input,
    mandatory, aliases, parameter sets, enum values, wildcards) are not written in the markdown: they are read from
    the cmdlets themselves (Get-Command on the built module), so the help cannot drift from the code. That is why
    this script imports the module: run it in a fresh pwsh (build.ps1 does), never in a session that will rebuild.

    The markdown shape of a cmdlet page (docs/help/<Verb-Noun>.md):

        # Verb-Noun
        ## SYNOPSIS            one paragraph
        ## DESCRIPTION         paragraphs
        ## PARAMETERS          one "### -Name" per parameter, its description below it
        ## INPUTS              "### TypeName" then a paragraph, per input type
        ## OUTPUTS             "### TypeName" then a paragraph, per output type
        ## NOTES               paragraphs (optional)
        ## EXAMPLES            "### Example N: title", a ```powershell block, then remarks (```text blocks allowed)
        ## RELATED LINKS       "- name" or "- [name](uri)" per line

    An about page (docs/help/about_<Topic>.md): "# about_<Topic>", "## SHORT DESCRIPTION", "## LONG DESCRIPTION"
    and any further "## HEADING" / "### Subheading" sections; fenced blocks are kept verbatim and indented.

    The build fails (this script throws) when a cmdlet has no page, a page names no cmdlet, a section is missing or
    empty, a real parameter (common parameters aside) is undocumented, a documented one does not exist, or a cmdlet
    has fewer than two examples.
.EXAMPLE
    pwsh -NoProfile -File tools/Build-Help.ps1 -ModulePath ./VirtioBlk.psd1 -OutputPath out/bin -AboutOutputPath en-US
#>
[CmdletBinding()]
param(
    # The manifest of the built module whose cmdlets the help describes.
    [Parameter(Mandatory)] [string] $ModulePath,
    # Where the markdown is.
    [string] $DocsPath = (Join-Path $PSScriptRoot '../docs/help'),
    # The folder that receives <assembly>.dll-Help.xml (next to the cmdlet assembly).
    [Parameter(Mandatory)] [string] $OutputPath,
    # The folder that receives about_*.help.txt (en-US beside the manifest).
    [Parameter(Mandatory)] [string] $AboutOutputPath,
    # Only check the markdown against the cmdlets; write nothing.
    [switch] $CheckOnly
)

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3.0

$MinimumExamples = 2
$CommonParameters = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters

#region markdown reading

# Splits a page into its H2 sections: ordered name -> lines (without the heading).
function Split-Section([string[]] $Lines, [string] $Level) {
    $sections = [ordered]@{}
    $current = $null
    $inFence = $false
    foreach ($line in $Lines) {
        if ($line -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $line -match "^$Level (.+?)\s*$") {
            $current = $Matches[1]
            $sections[$current] = [System.Collections.Generic.List[string]]::new()
            continue
        }
        if ($null -ne $current) { $sections[$current].Add($line) }
    }
    $sections
}

# Paragraphs of plain text: blank lines separate them, soft line breaks join; fenced blocks are kept whole.
function ConvertTo-Paragraph([string[]] $Lines) {
    $paragraphs = [System.Collections.Generic.List[object]]::new()
    $buffer = [System.Collections.Generic.List[string]]::new()
    $fence = $null
    function Flush { if ($buffer.Count) { $paragraphs.Add([pscustomobject]@{ Code = $false; Text = ($buffer -join ' ').Trim() }); $buffer.Clear() } }
    foreach ($line in $Lines) {
        if ($null -ne $fence) {
            if ($line -match '^```\s*$') { $paragraphs.Add([pscustomobject]@{ Code = $true; Text = ($fence -join "`n") }); $fence = $null }
            else { $fence.Add($line) }
            continue
        }
        if ($line -match '^```') { Flush; $fence = [System.Collections.Generic.List[string]]::new(); continue }
        if ($line -match '^\s*$') { Flush; continue }
        # A list item starts its own paragraph.
        if ($line -match '^\s*[-*] ' -and $buffer.Count) { Flush }
        $buffer.Add($line.Trim())
    }
    Flush
    , $paragraphs.ToArray()
}

# Inline markdown to plain text: `code` and **bold** lose their markers, [text](uri) keeps the text.
function ConvertTo-PlainText([string] $Text) {
    $Text = $Text -replace '\[([^\]]+)\]\(([^)]*)\)', '$1'
    $Text = $Text -replace '\*\*([^*]+)\*\*', '$1' -replace '`([^`]+)`', '$1'
    $Text
}

function Read-CommandPage([string] $File) {
    $lines = Get-Content -LiteralPath $File
    $name = ($lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1) -replace '^# ', ''
    $sections = Split-Section $lines '##'
    $problems = [System.Collections.Generic.List[string]]::new()
    foreach ($required in 'SYNOPSIS', 'DESCRIPTION', 'PARAMETERS', 'INPUTS', 'OUTPUTS', 'EXAMPLES') {
        if (-not $sections.Contains($required)) { $problems.Add("$File has no '## $required' section") }
    }
    $get = { param($s) if ($sections.Contains($s)) { [string[]] $sections[$s] } else { [string[]] @() } }

    $parameters = [ordered]@{}
    foreach ($entry in (Split-Section (& $get 'PARAMETERS') '###').GetEnumerator()) {
        $parameters[$entry.Key.TrimStart('-')] = ConvertTo-Paragraph $entry.Value
    }
    $typed = { param($s) foreach ($e in (Split-Section (& $get $s) '###').GetEnumerator()) { [pscustomobject]@{ Type = $e.Key; Paragraphs = ConvertTo-Paragraph $e.Value } } }
    $examples = foreach ($e in (Split-Section (& $get 'EXAMPLES') '###').GetEnumerator()) {
        $paragraphs = ConvertTo-Paragraph $e.Value
        $code = $paragraphs | Where-Object Code | Select-Object -First 1
        if (-not $code) { $problems.Add("$File, '$($e.Key)': no code block") }
        [pscustomobject]@{
            Title = $e.Key
            Code = if ($code) { $code.Text } else { '' }
            Remarks = @($paragraphs | Where-Object { $_ -ne $code })
        }
    }
    $links = foreach ($line in (& $get 'RELATED LINKS')) {
        if ($line -match '^\s*[-*]\s+\[([^\]]+)\]\(([^)]*)\)') { [pscustomobject]@{ Text = $Matches[1]; Uri = $Matches[2] } }
        elseif ($line -match '^\s*[-*]\s+(\S.*)$') { [pscustomobject]@{ Text = $Matches[1].Trim(); Uri = '' } }
    }
    $page = [pscustomobject]@{
        File = $File
        Name = $name.Trim()
        Synopsis = ConvertTo-Paragraph (& $get 'SYNOPSIS')
        Description = ConvertTo-Paragraph (& $get 'DESCRIPTION')
        Parameters = $parameters
        Inputs = @(& $typed 'INPUTS')
        Outputs = @(& $typed 'OUTPUTS')
        Notes = ConvertTo-Paragraph (& $get 'NOTES')
        Examples = @($examples)
        Links = @($links)
        Problems = $problems
    }
    if (-not $page.Synopsis) { $problems.Add("$File has an empty SYNOPSIS") }
    if (-not $page.Description) { $problems.Add("$File has an empty DESCRIPTION") }
    $page
}

#endregion

#region MAML writing

$Ns = @{
    maml = 'http://schemas.microsoft.com/maml/2004/10'
    command = 'http://schemas.microsoft.com/maml/dev/command/2004/10'
    dev = 'http://schemas.microsoft.com/maml/dev/2004/10'
}

function Write-Para([System.Xml.XmlWriter] $W, $Paragraphs) {
    foreach ($p in $Paragraphs) {
        # Code keeps its lines; Get-Help prints each maml:para as its own paragraph.
        $text = if ($p.Code) { $p.Text } else { ConvertTo-PlainText $p.Text }
        $W.WriteElementString('maml', 'para', $Ns.maml, $text)
    }
}

function Write-Description([System.Xml.XmlWriter] $W, [string] $Prefix, $Paragraphs) {
    $W.WriteStartElement($Prefix, 'description', $Ns[$Prefix])
    Write-Para $W $Paragraphs
    $W.WriteEndElement()
}

function Get-TypeName([type] $Type) {
    if ($Type -eq [System.Management.Automation.SwitchParameter]) { return 'SwitchParameter' }
    $t = [Nullable]::GetUnderlyingType($Type) ?? $Type
    $short = @{ [string] = 'String'; [int] = 'Int32'; [long] = 'Int64'; [uint64] = 'UInt64'; [double] = 'Double'; [byte] = 'Byte' }
    if ($t.IsArray) { return "$(Get-TypeName $t.GetElementType())[]" }
    if ($short.ContainsKey($t)) { return $short[$t] }
    $t.FullName
}

function Get-PipelineText($Attribute) {
    $kinds = @()
    if ($Attribute.ValueFromPipeline) { $kinds += 'ByValue' }
    if ($Attribute.ValueFromPipelineByPropertyName) { $kinds += 'ByPropertyName' }
    if ($kinds) { "True ($($kinds -join ', '))" } else { 'False' }
}

function Get-EnumValue([type] $Type) {
    $t = [Nullable]::GetUnderlyingType($Type) ?? $Type
    if ($t.IsEnum) { [enum]::GetNames($t) }
}

function Write-Parameter([System.Xml.XmlWriter] $W, $Parameter, $SetParameter, $Paragraphs, [switch] $InSyntax) {
    $attr = if ($SetParameter) { $SetParameter } else { $Parameter.ParameterSets.Values | Select-Object -First 1 }
    $mandatory = if ($SetParameter) { $SetParameter.IsMandatory } else { @($Parameter.ParameterSets.Values | Where-Object IsMandatory).Count -gt 0 }
    $position = if ($attr.Position -ge 0) { [string] $attr.Position } else { 'named' }
    $globbing = [bool] ($Parameter.Attributes | Where-Object { $_ -is [System.Management.Automation.SupportsWildcardsAttribute] })
    $W.WriteStartElement('command', 'parameter', $Ns.command)
    $W.WriteAttributeString('required', $mandatory.ToString().ToLower())
    $W.WriteAttributeString('variableLength', 'true')
    $W.WriteAttributeString('globbing', $globbing.ToString().ToLower())
    $W.WriteAttributeString('pipelineInput', (Get-PipelineText $attr))
    $W.WriteAttributeString('position', $position)
    $W.WriteAttributeString('aliases', $(if ($Parameter.Aliases.Count) { $Parameter.Aliases -join ', ' } else { 'none' }))
    $W.WriteElementString('maml', 'name', $Ns.maml, $Parameter.Name)
    Write-Description $W 'maml' $Paragraphs
    $values = Get-EnumValue $Parameter.ParameterType
    if ($InSyntax -and $values) {
        $W.WriteStartElement('command', 'parameterValueGroup', $Ns.command)
        foreach ($v in $values) {
            $W.WriteStartElement('command', 'parameterValue', $Ns.command)
            $W.WriteAttributeString('required', 'false'); $W.WriteAttributeString('variableLength', 'false')
            $W.WriteString($v)
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }
    if ($Parameter.ParameterType -ne [System.Management.Automation.SwitchParameter]) {
        $W.WriteStartElement('command', 'parameterValue', $Ns.command)
        $W.WriteAttributeString('required', 'true'); $W.WriteAttributeString('variableLength', 'false')
        $W.WriteString((Get-TypeName $Parameter.ParameterType))
        $W.WriteEndElement()
    }
    $W.WriteStartElement('dev', 'type', $Ns.dev)
    $W.WriteElementString('maml', 'name', $Ns.maml, (Get-TypeName $Parameter.ParameterType))
    $W.WriteEndElement()
    if (-not $InSyntax) {
        $W.WriteElementString('dev', 'defaultValue', $Ns.dev, 'None')
        if ($values) {
            $W.WriteStartElement('command', 'parameterValueGroup', $Ns.command)
            foreach ($v in $values) { $W.WriteElementString('command', 'parameterValue', $Ns.command, $v) }
            $W.WriteEndElement()
        }
    }
    $W.WriteEndElement()
}

function Write-Command([System.Xml.XmlWriter] $W, $Page, $Command) {
    $W.WriteStartElement('command', 'command', $Ns.command)
    $W.WriteStartElement('command', 'details', $Ns.command)
    $W.WriteElementString('command', 'name', $Ns.command, $Command.Name)
    $W.WriteElementString('command', 'verb', $Ns.command, $Command.Verb)
    $W.WriteElementString('command', 'noun', $Ns.command, $Command.Noun)
    Write-Description $W 'maml' $Page.Synopsis
    $W.WriteEndElement()
    Write-Description $W 'maml' $Page.Description

    $own = @($Command.Parameters.Values | Where-Object Name -NotIn $CommonParameters)
    $W.WriteStartElement('command', 'syntax', $Ns.command)
    foreach ($set in $Command.ParameterSets) {
        $W.WriteStartElement('command', 'syntaxItem', $Ns.command)
        $W.WriteElementString('maml', 'name', $Ns.maml, $Command.Name)
        # Positional parameters first, in position order, then mandatory ones, then the rest in the page's order.
        $order = @($Page.Parameters.Keys)
        $inSet = $set.Parameters | Where-Object Name -NotIn $CommonParameters |
            Sort-Object @{ e = { if ($_.Position -ge 0) { $_.Position } else { [int]::MaxValue } } }, @{ e = { -not $_.IsMandatory } }, @{ e = { $order.IndexOf($_.Name) } }
        foreach ($sp in $inSet) {
            $p = $Command.Parameters[$sp.Name]
            Write-Parameter $W $p $sp $Page.Parameters[$sp.Name] -InSyntax
        }
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'parameters', $Ns.command)
    foreach ($name in $Page.Parameters.Keys) {
        $p = $own | Where-Object Name -EQ $name
        if ($p) { Write-Parameter $W $p $null $Page.Parameters[$name] }
    }
    $W.WriteEndElement()

    foreach ($kind in @(@{ Outer = 'inputTypes'; Inner = 'inputType'; Items = $Page.Inputs }, @{ Outer = 'returnValues'; Inner = 'returnValue'; Items = $Page.Outputs })) {
        $W.WriteStartElement('command', $kind.Outer, $Ns.command)
        foreach ($item in $kind.Items) {
            $W.WriteStartElement('command', $kind.Inner, $Ns.command)
            $W.WriteStartElement('dev', 'type', $Ns.dev)
            $W.WriteElementString('maml', 'name', $Ns.maml, $item.Type)
            $W.WriteEndElement()
            Write-Description $W 'maml' $item.Paragraphs
            $W.WriteEndElement()
        }
        $W.WriteEndElement()
    }

    $W.WriteStartElement('maml', 'alertSet', $Ns.maml)
    $W.WriteStartElement('maml', 'alert', $Ns.maml)
    Write-Para $W $Page.Notes
    $W.WriteEndElement()
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'examples', $Ns.command)
    $n = 0
    foreach ($e in $Page.Examples) {
        $n++
        $W.WriteStartElement('command', 'example', $Ns.command)
        # Get-Help prints the title between dashes, as PowerShell's own help does.
        $W.WriteElementString('maml', 'title', $Ns.maml, "---------- $($e.Title) ----------")
        $W.WriteElementString('dev', 'code', $Ns.dev, $e.Code)
        $W.WriteStartElement('dev', 'remarks', $Ns.dev)
        Write-Para $W $e.Remarks
        $W.WriteEndElement()
        $W.WriteEndElement()
    }
    $W.WriteEndElement()

    $W.WriteStartElement('command', 'relatedLinks', $Ns.command)
    foreach ($l in $Page.Links) {
        $W.WriteStartElement('maml', 'navigationLink', $Ns.maml)
        $W.WriteElementString('maml', 'linkText', $Ns.maml, $l.Text)
        $W.WriteElementString('maml', 'uri', $Ns.maml, $l.Uri)
        $W.WriteEndElement()
    }
    $W.WriteEndElement()
    $W.WriteEndElement()
}

#endregion

#region about topics

function Format-Wrapped([string] $Text, [int] $Indent, [int] $Width = 80) {
    $pad = ' ' * $Indent
    $lines = [System.Collections.Generic.List[string]]::new()
    $line = ''
    foreach ($word in ($Text -split '\s+' | Where-Object { $_ })) {
        if ($line.Length -and ($pad.Length + $line.Length + 1 + $word.Length) -gt $Width) { $lines.Add($pad + $line); $line = $word }
        else { $line = if ($line) { "$line $word" } else { $word } }
    }
    if ($line) { $lines.Add($pad + $line) }
    $lines
}

function ConvertTo-AboutText([string] $File) {
    $lines = Get-Content -LiteralPath $File
    $topic = (($lines | Where-Object { $_ -match '^# ' } | Select-Object -First 1) -replace '^# ', '').Trim()
    $sections = Split-Section $lines '##'
    foreach ($required in 'SHORT DESCRIPTION', 'LONG DESCRIPTION') {
        if (-not $sections.Contains($required) -or -not (ConvertTo-Paragraph $sections[$required])) { throw "$File has no (or an empty) '## $required' section" }
    }
    $out = [System.Collections.Generic.List[string]]::new()
    $out.Add('TOPIC'); $out.Add("    $topic"); $out.Add('')
    foreach ($s in $sections.GetEnumerator()) {
        $out.Add($s.Key.ToUpperInvariant())
        foreach ($sub in @(Split-SubSection $s.Value)) {
            if ($sub.Heading) { $out.Add(''); $out.Add("  $($sub.Heading.ToUpperInvariant())") }
            $paragraphs = ConvertTo-Paragraph $sub.Lines
            foreach ($p in $paragraphs) {
                if ($p.Code) { foreach ($l in $p.Text -split "`n") { $out.Add(("        $l").TrimEnd()) } }
                elseif ($p.Text -match '^[-*] (.*)') { $wrapped = @(Format-Wrapped (ConvertTo-PlainText $Matches[1]) 6); $wrapped[0] = '    - ' + $wrapped[0].TrimStart(); $out.AddRange([string[]]$wrapped) }
                else { $out.AddRange([string[]]@(Format-Wrapped (ConvertTo-PlainText $p.Text) 4)) }
                $out.Add('')
            }
        }
        if ($out[-1] -ne '') { $out.Add('') }
    }
    [pscustomobject]@{ Topic = $topic; Text = ($out -join "`n").TrimEnd() + "`n" }
}

# The lines before the first "###", then each "###" with its lines.
function Split-SubSection([string[]] $Lines) {
    $head = [System.Collections.Generic.List[string]]::new()
    $inFence = $false
    foreach ($l in $Lines) {
        if ($l -match '^```') { $inFence = -not $inFence }
        if (-not $inFence -and $l -match '^### ') { break }
        $head.Add($l)
    }
    [pscustomobject]@{ Heading = $null; Lines = $head.ToArray() }
    foreach ($e in (Split-Section $Lines '###').GetEnumerator()) { [pscustomobject]@{ Heading = $e.Key; Lines = [string[]] $e.Value } }
}

#endregion

$module = Import-Module (Resolve-Path $ModulePath).Path -PassThru -Force
$commands = @(Get-Command -Module $module.Name -CommandType Cmdlet | Sort-Object Name)
$pages = @(Get-ChildItem -LiteralPath $DocsPath -Filter '*.md' | Where-Object Name -NotLike 'about_*' | ForEach-Object { Read-CommandPage $_.FullName })
$problems = [System.Collections.Generic.List[string]]::new()
foreach ($p in $pages) { $problems.AddRange([string[]] $p.Problems) }

foreach ($c in $commands) {
    $page = $pages | Where-Object Name -EQ $c.Name
    if (-not $page) { $problems.Add("$($c.Name) has no page $DocsPath/$($c.Name).md"); continue }
    $real = @($c.Parameters.Keys | Where-Object { $_ -notin $CommonParameters })
    foreach ($name in $real) {
        if (-not $page.Parameters.Contains($name) -or -not $page.Parameters[$name]) { $problems.Add("$($c.Name): parameter -$name is not documented") }
    }
    foreach ($name in $page.Parameters.Keys) {
        if ($name -notin $real) { $problems.Add("$($c.Name): documents -$name, which the cmdlet does not have") }
    }
    if ($page.Examples.Count -lt $MinimumExamples) { $problems.Add("$($c.Name): $($page.Examples.Count) example(s), at least $MinimumExamples needed") }
}
foreach ($p in $pages) {
    if ($p.Name -notin $commands.Name) { $problems.Add("$($p.File) describes '$($p.Name)', which the module does not export") }
}
if ($problems.Count) {
    # One plain line per problem (no error view wrapping them), then a failing exit code for the build.
    [Console]::Error.WriteLine("The help is incomplete:`n  " + ($problems -join "`n  "))
    exit 1
}

$abouts = @(Get-ChildItem -LiteralPath $DocsPath -Filter 'about_*.md' | ForEach-Object { ConvertTo-AboutText $_.FullName })
if ($CheckOnly) {
    "help: $($pages.Count) cmdlet pages and $($abouts.Count) about topics are complete"
    return
}

$assemblyName = [System.IO.Path]::GetFileName($module.ImplementingAssembly.Location)
New-Item -ItemType Directory -Force $OutputPath, $AboutOutputPath | Out-Null
$mamlPath = Join-Path (Resolve-Path $OutputPath).Path "$assemblyName-Help.xml"
$settings = [System.Xml.XmlWriterSettings]@{ Indent = $true; Encoding = [System.Text.UTF8Encoding]::new($false) }
$w = [System.Xml.XmlWriter]::Create($mamlPath, $settings)
try {
    $w.WriteStartDocument()
    $w.WriteComment(' Generated by tools/Build-Help.ps1 from docs/help/*.md: edit those, not this. ')
    $w.WriteStartElement('helpItems')
    $w.WriteAttributeString('schema', 'maml')
    $w.WriteAttributeString('xmlns', 'maml', $null, $Ns.maml)
    $w.WriteAttributeString('xmlns', 'command', $null, $Ns.command)
    $w.WriteAttributeString('xmlns', 'dev', $null, $Ns.dev)
    foreach ($c in $commands) { Write-Command $w ($pages | Where-Object Name -EQ $c.Name) $c }
    $w.WriteEndElement()
    $w.WriteEndDocument()
}
finally { $w.Dispose() }

foreach ($a in $abouts) {
    $path = Join-Path (Resolve-Path $AboutOutputPath).Path "$($a.Topic).help.txt"
    [System.IO.File]::WriteAllText($path, $a.Text, [System.Text.UTF8Encoding]::new($false))
}
"help: $mamlPath ($($commands.Count) cmdlets), $($abouts.Count) about topic(s) in $AboutOutputPath"
