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
    Copyright            = '(c) 2026 VirtioBlk contributors. MIT License.'
    Description          = 'See, read, write and benchmark virtio-blk disks on a Linux VM through io_uring: the block device /dev/vdX and, on kernels with the virtio-blk passthrough series, the char device /dev/vdXc0.'

    CompatiblePSEditions = @('Core')
    # The assemblies target .NET 10, which pwsh runs from 7.6 on: a 7.4 user would pass the manifest check and then
    # fail to load the DLL. Raise this with the TargetFramework in Directory.Build.props (a Pester test keeps them in step).
    PowerShellVersion    = '7.6'

    # Loaded before the root module so scripts can name the core's types: catch [VirtioBlk.Core.IoUringException].
    RequiredAssemblies   = @('out/bin/VirtioBlk.Core.dll')

    FormatsToProcess     = @('module/VirtioBlk.Format.ps1xml', 'module/VirtioBlk.Benchmark.Format.ps1xml')

    # Script properties (SizeHuman, P99Us, IopsSparkline), export methods, and the serialization depth that keeps
    # nested results whole over remoting.
    TypesToProcess       = @('module/VirtioBlk.Types.ps1xml')

    # Explicit lists: every exported cmdlet is listed here by name, nothing else is exported.
    CmdletsToExport      = @(
        'Get-VirtioBlkDevice'
        'Read-VirtioBlkSector'
        'Write-VirtioBlkSector'
        'Test-VirtioBlkPassthrough'
        'Invoke-VirtioBlkBenchmark'
        'Compare-VirtioBlkBenchmark'
    )
    FunctionsToExport    = @()
    AliasesToExport      = @()
    VariablesToExport    = @()

    PrivateData          = @{
        PSData = @{
            Tags         = @('virtio', 'virtio-blk', 'io_uring', 'uring_cmd', 'passthrough', 'block', 'storage', 'benchmark', 'Linux', 'PSEdition_Core')
            # The MIT license text; the LICENSE file ships in the module folder. No ProjectUri: the project has no
            # public home yet, and a made-up address would be worse than none.
            LicenseUri   = 'https://opensource.org/license/mit'
            ReleaseNotes = @'
0.1.0
- Get-VirtioBlkDevice, Read-VirtioBlkSector, Write-VirtioBlkSector, Test-VirtioBlkPassthrough, Invoke-VirtioBlkBenchmark
  over the block device and the virtio-blk io_uring passthrough char device.
- Help for every cmdlet and about_VirtioBlk; tab completion of disk names and device paths.
- Views for every output type, a Chart view of benchmark latency and IOPS, export methods for samples and percentiles.
- Objects survive remoting whole; an operational Pester check suite for fleets in examples/.
'@
        }
    }
}
