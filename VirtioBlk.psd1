#
# Module manifest for VirtioBlk. Import it from the checkout after a build:
#   dotnet build src/VirtioBlk.PowerShell     # output goes to out/bin/
#   Import-Module ./VirtioBlk.psd1
#
@{
    RootModule           = 'out/bin/VirtioBlk.PowerShell.dll'

    # One version source: VersionPrefix in Directory.Build.props (a Pester test keeps the two equal).
    ModuleVersion        = '0.1.0'

    GUID                 = 'b27ec215-4260-4fa8-91f9-cb95dcff7b37'
    Author               = 'VirtioBlk contributors'
    Description          = 'See, read, write and benchmark virtio-blk disks on a Linux VM through io_uring: the block device /dev/vdX and, on kernels with the virtio-blk passthrough series, the char device /dev/vdXc0.'

    CompatiblePSEditions = @('Core')
    PowerShellVersion    = '7.4'

    # Loaded before the root module so scripts can name the core's types: catch [VirtioBlk.Core.IoUringException].
    RequiredAssemblies   = @('out/bin/VirtioBlk.Core.dll')

    FormatsToProcess     = @('module/VirtioBlk.Format.ps1xml', 'module/VirtioBlk.Benchmark.Format.ps1xml')

    # Explicit lists: every exported cmdlet is listed here by name, nothing else is exported.
    CmdletsToExport      = @(
        'Get-VirtioBlkDevice'
        'Read-VirtioBlkSector'
        'Write-VirtioBlkSector'
        'Test-VirtioBlkPassthrough'
        'Invoke-VirtioBlkBenchmark'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags = @('virtio', 'virtio-blk', 'io_uring', 'uring_cmd', 'passthrough', 'block', 'storage', 'benchmark', 'Linux')
        }
    }
}
