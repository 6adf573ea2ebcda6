#Requires -Version 7.4
# -Verify and -Operation Verify on loop devices over tmpfs files: a write pass, a block changed in the backing file
# behind the engine's back, and a verify pass that must name exactly that block. Passthrough runs in the VM tier.

BeforeDiscovery {
    $script:IsRoot = (id -u) -eq '0'
}

Describe 'Invoke-VirtioBlkBenchmark -Verify' -Tags CI {
    BeforeAll {
        $RepoRoot = (Resolve-Path "$PSScriptRoot/../..").Path
        Import-Module (Join-Path $RepoRoot 'VirtioBlk.psd1') -Force -ErrorAction Stop
        $Fq = 'VirtioBlk.PowerShell.Commands.InvokeVirtioBlkBenchmarkCommand'
        . (Join-Path $PSScriptRoot 'TestLoopDevice.ps1')
        function Set-FileBytes([string] $File, [long] $At, [byte[]] $Bytes) {
            $fs = [System.IO.File]::Open($File, 'Open', 'Write')
            try { $fs.Position = $At; $fs.Write($Bytes, 0, $Bytes.Length); $fs.Flush($true) } finally { $fs.Dispose() }
        }
    }

    Context 'on a loop device' -Skip:(-not $IsRoot) {
        BeforeEach { $script:Loop = New-TestLoop -Size 8MB }
        AfterEach { Remove-TestLoop $script:Loop }

        It 'a verify pass reports exactly the block corrupted behind its back (QD<QueueDepth>, <Threads> thread(s))' -TestCases @(
            @{ QueueDepth = 1; Threads = 1 }
            @{ QueueDepth = 32; Threads = 2 }
        ) {
            $w = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Write -Verify -Pattern Sequential -IoCount 2048 -QueueDepth 8 -SubmitBatch 4 -CompleteBatch 4 -Seed 77 -Confirm:$false
            $w.Mismatches | Should -Be 0
            $w.BlocksChecked | Should -Be 2048
            $w.Verify | Should -BeTrue

            Set-FileBytes $Loop.File (1234 * 4096 + 2000) ([byte[]] (1, 2, 3, 4))
            & blockdev --flushbufs $Loop.Path

            $v = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Verify -Pattern Sequential -Seed 77 -QueueDepth $QueueDepth -Threads $Threads -ErrorVariable ev -ErrorAction SilentlyContinue
            $v.BlocksChecked | Should -Be 2048
            $v.Mismatches | Should -Be 1
            $v.MismatchDetails.Count | Should -Be 1
            $v.MismatchDetails[0].Offset | Should -Be (1234 * 4096)
            $v.MismatchDetails[0].Verdict | Should -Be 'Corrupt'
            $v.MismatchDetails[0].HeaderOffset | Should -Be (1234 * 4096)
            $ev.Count | Should -Be 1
            $ev[0].FullyQualifiedErrorId | Should -Be "VirtioBlkVerifyMismatch,$Fq"
            $ev[0].CategoryInfo.Category | Should -Be 'InvalidData'
            $ev[0].Exception.Message | Should -Match '5054464'
            $ev[0].ErrorDetails.RecommendedAction | Should -Match '-Operation Verify'
        }

        It 'a misdirected block names the offset it really holds' {
            $null = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Write -Verify -Pattern Sequential -IoCount 2048 -QueueDepth 4 -Confirm:$false
            $bytes = [System.IO.File]::ReadAllBytes($Loop.File)
            Set-FileBytes $Loop.File (100 * 4096) $bytes[(7 * 4096)..(8 * 4096 - 1)]
            $v = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Verify -Pattern Sequential -ErrorAction SilentlyContinue
            $v.Mismatches | Should -Be 1
            $v.MismatchDetails[0].Verdict | Should -Be 'Misdirected'
            $v.MismatchDetails[0].HeaderOffset | Should -Be (7 * 4096)
            "$($v.MismatchDetails[0])" | Should -Match 'holds the block of offset 28672'
        }

        It '-StopOnMismatch stops the pass early; without it the pass goes on' {
            # Nothing was written with a header: every block mismatches.
            $all = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Verify -Pattern Sequential -QueueDepth 4 -ErrorAction SilentlyContinue -WarningAction SilentlyContinue
            $all.Mismatches | Should -Be 2048
            $all.MismatchDetails.Count | Should -Be 100
            $stop = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Verify -Pattern Sequential -QueueDepth 4 -StopOnMismatch -ErrorAction SilentlyContinue
            $stop.BlocksChecked | Should -BeLessOrEqual 4
        }

        It 'random verified writes on two threads at QD32 check every block they write' {
            $w = Invoke-VirtioBlkBenchmark $Loop.Path -Operation Write -Verify -IoCount 3000 -QueueDepth 32 -SubmitBatch 8 -CompleteBatch 8 -Threads 2 -FixedBuffers -RegisteredFiles -Confirm:$false
            $w.Errors | Should -Be 0
            $w.BlocksChecked | Should -Be 6000
            $w.TotalIos | Should -Be 12000
            $w.Mismatches | Should -Be 0
        }

        It '-Verify with a read workload is refused with its id' {
            { Invoke-VirtioBlkBenchmark $Loop.Path -Verify -IoCount 10 -ErrorAction Stop } | Should -Throw -ErrorId "VirtioBlkUnsupportedCombination,$Fq"
        }
    }

    Context 'under taskset -c 1' -Skip:(-not $IsRoot -or [Environment]::ProcessorCount -lt 2 -or -not (Get-Command taskset -ErrorAction Ignore)) {
        BeforeAll { $script:Loop = New-TestLoop -Size 4MB }
        AfterAll { Remove-TestLoop $script:Loop }

        It '-CpuAffinity 1 is accepted, the default pins inside the mask, CPU 0 is refused' {
            $pwsh = Join-Path $PSHOME 'pwsh'
            $script = @"
Import-Module '$RepoRoot/VirtioBlk.psd1'
`$a = Invoke-VirtioBlkBenchmark $($Loop.Path) -IoCount 100 -QueueDepth 2 -CpuAffinity 1
`$b = Invoke-VirtioBlkBenchmark $($Loop.Path) -IoCount 100 -QueueDepth 2 -Threads 2
try { Invoke-VirtioBlkBenchmark $($Loop.Path) -IoCount 10 -CpuAffinity 0 -ErrorAction Stop; `$c = 'ran' } catch { `$c = `$_.FullyQualifiedErrorId }
"`$(`$a.ThreadCpus)|`$(`$b.ThreadCpus)|`$c"
"@
            $out = & taskset -c 1 $pwsh -NoProfile -NonInteractive -Command $script
            $out | Should -Be "1|1,1|VirtioBlkInvalidArgument,$Fq"
        }
    }
}
