using System;
using System.Threading;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Interop;
using VirtioBlk.Core.Native;
using VirtioBlk.Core.Uring;

namespace VirtioBlk.Core.Devices;

/// <summary>What the kernel answered to one passthrough command.</summary>
public enum CommandAnswer
{
    Accepted,
    Refused,
    NotTried,
}

/// <summary>One command's probe: its name (IN, FLUSH, GET_ID...), the answer, what was seen and the errno of a refusal.</summary>
public sealed record CommandProbe(string Command, CommandAnswer Answer, string Detail, Errno Errno = Errno.None);

/// <summary>
/// Asks a passthrough char device which commands its kernel takes, without writing anything: the posted series,
/// this project's patch and the OpenAnolis variant differ (the variant refuses FLUSH and GET_ID and needs no
/// CAP_SYS_ADMIN). A FLUSH refusal is remembered in <see cref="PassthroughSupport"/>.
/// </summary>
public static unsafe class PassthroughProbe
{
    /// <summary>VIRTIO_BLK_T_FLUSH on the char device opened for writing (OUT and FLUSH need write access there).</summary>
    public static CommandProbe Flush(string charDevicePath)
    {
        CommandProbe probe = Issue(charDevicePath, "FLUSH", Sys.O_RDWR, VirtioBlkRequestType.Flush, 0);
        if (probe.Answer == CommandAnswer.Refused && probe.Errno == Errno.EOPNOTSUPP)
        {
            PassthroughSupport.Refused(charDevicePath, VirtioBlkRequestType.Flush);
        }
        return probe;
    }

    /// <summary>VIRTIO_BLK_T_GET_ID into a buffer of exactly VIRTIO_BLK_ID_BYTES, as the virtio spec requires.</summary>
    public static CommandProbe GetId(string charDevicePath)
        => Issue(charDevicePath, "GET_ID", Sys.O_RDONLY, VirtioBlkRequestType.GetId, VirtioBlkConstants.IdBytes);

    /// <summary>
    /// Whether a passthrough read needs CAP_SYS_ADMIN: one read of <paramref name="blockBytes"/> at sector 0 on a
    /// thread whose effective set lacks it (capabilities are per thread; the ring is made there too, so io-wq
    /// workers carry the same credentials). Null when the answer is neither success nor EACCES/EPERM.
    /// </summary>
    public static bool? NeedsSysAdmin(string charDevicePath, int blockBytes)
    {
        if (!ProcessCapabilities.HasSysAdmin())
        {
            return null; // the caller's own read already answers: without the capability it failed or it did not
        }

        CommandProbe? answer = null;
        var thread = new Thread(() =>
        {
            try
            {
                Sys.DropEffectiveCapability(Sys.CapSysAdmin);
                answer = Issue(charDevicePath, "IN", Sys.O_RDONLY, VirtioBlkRequestType.In, blockBytes);
            }
            catch (IoUringException e)
            {
                answer = new CommandProbe("IN", CommandAnswer.NotTried, e.Message);
            }
        }) { IsBackground = true, Name = "virtioblk-capability-probe" };
        thread.Start();
        thread.Join();
        return answer switch
        {
            { Answer: CommandAnswer.Accepted } => false,
            { Answer: CommandAnswer.Refused, Errno: Errno.EACCES or Errno.EPERM } => true,
            _ => null,
        };
    }

    private static CommandProbe Issue(string charDevicePath, string name, int openFlags, VirtioBlkRequestType type, int bytes)
    {
        try
        {
            using SafeFileDescriptor fd = SafeFileDescriptor.Open(charDevicePath, openFlags);
            using var ring = new IoUring(new IoUringOptions { Entries = 2, Flags = IoUringSetupFlags.Sqe128 });
            using var buffer = new AlignedBuffer(Math.Max(bytes, 512));
            VirtioBlkCommand.Prep(ring.GetSqeOrThrow(), ring.SqeSize, fd.Fd, type, 0, bytes == 0 ? null : buffer.Pointer, (uint)bytes, false, -1, 1);
            ring.SubmitAndWait(1);
            int res = ring.WaitCompletion().Res;
            IoUringException? failure = VirtioBlkCommand.Failure(res, type == VirtioBlkRequestType.Flush ? IoOperationKind.Flush : IoOperationKind.Read, name, charDevicePath);
            return failure is null
                ? new CommandProbe(name, CommandAnswer.Accepted, $"{name} on {charDevicePath} completed.")
                : new CommandProbe(name, CommandAnswer.Refused, failure.Message, failure.Errno);
        }
        catch (IoUringException e) when (e.Kind is IoOperationKind.Open)
        {
            return new CommandProbe(name, CommandAnswer.NotTried, $"{charDevicePath} could not be opened for it: {ErrnoText.Describe(e.Errno)}.");
        }
    }
}
