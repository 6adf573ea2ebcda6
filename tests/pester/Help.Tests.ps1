#Requires -Version 7.4
# The help: every cmdlet's help is found by Get-Help from the built en-US/ files (build.ps1 -Task Build writes them
# from docs/help/*.md), has a synopsis, a description, every real parameter described and at least two examples;
# about_VirtioBlk is found. The build step itself (tools/Build-Help.ps1) fails on incomplete help: checked here too.

BeforeDiscovery {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $manifest = Import-PowerShellDataFile (Join-Path $RepoRoot 'VirtioBlk.psd1')
    $script:Cmdlets = @($manifest.CmdletsToExport | ForEach-Object { @{ Name = $_ } })
}

BeforeAll {
    $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
    $Pwsh = Join-Path $PSHOME 'pwsh'
    $EnUs = Join-Path $RepoRoot 'en-US'
    $Maml = Join-Path $EnUs 'VirtioBlk.PowerShell.dll-Help.xml'
    if (-not (Test-Path $Maml)) {
        # Invoke-Tests.ps1 run on its own after a plain dotnet build: generate the help as build.ps1 would.
        & $Pwsh -NoProfile -File (Join-Path $RepoRoot 'tools/Build-Help.ps1') -ModulePath (Join-Path $RepoRoot 'VirtioBlk.psd1') -OutputPath $EnUs -AboutOutputPath $EnUs | Out-Null
    }
    Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
    $Common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
}

Describe 'Help of <Name>' -Tags CI -ForEach $Cmdlets {
    BeforeAll {
        $Help = Get-Help $Name -Full
        $Command = Get-Command $Name
    }

    It 'comes from the MAML file, with a synopsis and a description' {
        $Help.Synopsis | Should -Not -BeNullOrEmpty
        # Without a help file Get-Help makes the synopsis from the syntax.
        $Help.Synopsis | Should -Not -Match ('^\s*' + [regex]::Escape($Name) + '\s*\[')
        ($Help.description.Text -join ' ') | Should -Not -BeNullOrEmpty
    }

    It 'describes every parameter the cmdlet has, and no other' {
        $real = @($Command.Parameters.Keys | Where-Object { $_ -notin $Common } | Sort-Object)
        $documented = @($Help.parameters.parameter | Where-Object { ($_.description.Text -join '').Trim() } | ForEach-Object name | Sort-Object)
        $documented | Should -Be $real
    }

    It 'has at least two examples, each with code' {
        $examples = @($Help.examples.example)
        $examples.Count | Should -BeGreaterOrEqual 2
        $examples | ForEach-Object { $_.code | Should -Not -BeNullOrEmpty }
    }

    It 'shows its examples with Get-Help -Examples in a fresh pwsh' {
        $text = & $Pwsh -NoProfile -Command "`$PSStyle.OutputRendering = 'PlainText'; Import-Module '$RepoRoot/VirtioBlk.psd1'; Get-Help $Name -Examples | Out-String -Width 200"
        (($text -join "`n") | Select-String -Pattern '-{5,} Example \d+:' -AllMatches).Matches.Count | Should -BeGreaterOrEqual 2
    }

    It 'has its parameter types and pipeline input from the cmdlet' {
        foreach ($p in $Help.parameters.parameter) {
            $p.type.name | Should -Not -BeNullOrEmpty -Because "-$($p.name) has a type"
        }
    }
}

Describe 'about_VirtioBlk' -Tags CI {
    It 'is found by Get-Help and covers the two paths, privileges, poll queues, the kernel series and the VM' {
        $text = Get-Help about_VirtioBlk | Out-String
        foreach ($topic in 'THE TWO PATHS', 'PRIVILEGES', 'POLL QUEUES', 'THE KERNEL SERIES', 'TRYING IT IN THE VM', 'FLEETS') {
            $text | Should -Match $topic
        }
    }
}

Describe 'tools/Build-Help.ps1' -Tags CI {
    BeforeAll {
        function Invoke-HelpCheck([string] $Docs) {
            $out = & $Pwsh -NoProfile -File (Join-Path $RepoRoot 'tools/Build-Help.ps1') -ModulePath (Join-Path $RepoRoot 'VirtioBlk.psd1') -DocsPath $Docs -OutputPath TestDrive:/x -AboutOutputPath TestDrive:/x -CheckOnly 2>&1
            [pscustomobject]@{ ExitCode = $LASTEXITCODE; Text = ($out | Out-String) }
        }
        function Copy-Docs {
            $dir = Join-Path ([System.IO.Path]::GetTempPath()) "vblk-help-$([guid]::NewGuid().ToString('N'))"
            Copy-Item -Recurse (Join-Path $RepoRoot 'docs/help') $dir
            $dir
        }
    }

    It 'accepts the repository''s help' {
        $r = Invoke-HelpCheck (Join-Path $RepoRoot 'docs/help')
        $r.ExitCode | Should -Be 0
        $r.Text | Should -Match 'complete'
    }

    It 'fails the build when a parameter is undocumented' {
        $dir = Copy-Docs
        try {
            $page = Join-Path $dir 'Read-VirtioBlkSector.md'
            (Get-Content -Raw $page) -replace '(?s)### -Raw\n.*?\n\n', '' | Set-Content $page
            $r = Invoke-HelpCheck $dir
            $r.ExitCode | Should -Not -Be 0
            $r.Text | Should -Match 'Read-VirtioBlkSector: parameter -Raw is not documented'
        }
        finally { Remove-Item -Recurse -Force $dir }
    }

    It 'fails the build when a cmdlet has fewer than two examples' {
        $dir = Copy-Docs
        try {
            $page = Join-Path $dir 'Get-VirtioBlkDevice.md'
            (Get-Content -Raw $page) -replace '(?s)### Example 2:.*?(?=## RELATED LINKS)', '' | Set-Content $page
            $r = Invoke-HelpCheck $dir
            $r.ExitCode | Should -Not -Be 0
            $r.Text | Should -Match 'Get-VirtioBlkDevice: 1 example\(s\), at least 2 needed'
        }
        finally { Remove-Item -Recurse -Force $dir }
    }

    It 'fails the build when a documented parameter does not exist' {
        $dir = Copy-Docs
        try {
            $page = Join-Path $dir 'Test-VirtioBlkPassthrough.md'
            (Get-Content -Raw $page) -replace '## INPUTS', "### -Bogus`nNot a parameter.`n`n## INPUTS" | Set-Content $page
            $r = Invoke-HelpCheck $dir
            $r.ExitCode | Should -Not -Be 0
            $r.Text | Should -Match 'documents -Bogus'
        }
        finally { Remove-Item -Recurse -Force $dir }
    }
}
