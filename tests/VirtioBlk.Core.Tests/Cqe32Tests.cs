using System;
using VirtioBlk.Core.Abi;
using VirtioBlk.Core.Uring;
using Xunit;

namespace VirtioBlk.Core.Tests;

/// <summary>
/// 32-byte CQEs from the kernel itself: IORING_OP_NOP with IORING_NOP_CQE32 (Linux 6.18's io_uring/nop.c) posts
/// sqe->off and sqe->addr as big_cqe[0] and [1] on an IORING_SETUP_CQE32 ring.
/// </summary>
public sealed unsafe class Cqe32Tests
{
    private static void PrepNop32(IoUringSqe* sqe, ulong userData, int result, ulong extra1, ulong extra2)
    {
        Sqe.PrepNop(sqe, userData);
        sqe->OpFlags = IoUringConstants.NopCqe32 | IoUringConstants.NopInjectResult; // nop_flags
        sqe->Len = (uint)result;
        sqe->Off = extra1;
        sqe->Addr = extra2;
    }

    private static void RequireNopCqe32(IoUringCqe32 first)
    {
        if (first.Res == -(int)Errno.EINVAL)
            Assert.Skip("this kernel's NOP lacks IORING_NOP_CQE32/INJECT_RESULT (io_uring/nop.c before 6.18): no op fills big_cqe here");
    }

    [Fact]
    public void ABigCqeArrivesWhole()
    {
        using IoUring ring = Rings.Create(4, IoUringSetupFlags.Cqe32);
        Assert.Equal(32, ring.CqeSize);
        PrepNop32(ring.GetSqeOrThrow(), 7, 42, 0x1122334455667788, 0x99AABBCCDDEEFF00);
        ring.SubmitAndWait(1);
        IoUringCqe32 cqe = ring.WaitCompletion32();
        RequireNopCqe32(cqe);
        Assert.Equal(7ul, cqe.UserData);
        Assert.Equal(42, cqe.Res);
        Assert.Equal(0x1122334455667788ul, cqe.BigCqe0);
        Assert.Equal(0x99AABBCCDDEEFF00ul, cqe.BigCqe1);
        Assert.Equal(new IoUringCqe(7, 42, cqe.Flags), cqe.Cqe);

        Sqe.PrepNop(ring.GetSqeOrThrow(), 8); // a plain NOP: the kernel zeroes the big words
        ring.SubmitAndWait(1);
        Assert.True(ring.TryPeekCompletion32(out IoUringCqe32 plain));
        Assert.Equal((8ul, 0, 0ul, 0ul), (plain.UserData, plain.Res, plain.BigCqe0, plain.BigCqe1));
        Assert.Equal(0, ring.InFlight);
    }

    [Fact]
    public void BatchesOfBigCqesKeepEachSlotsWordsAcrossWrapAround()
    {
        using IoUring ring = Rings.Create(4, IoUringSetupFlags.Cqe32); // 8 CQ slots: 40 CQEs wrap five times
        var cqes = new IoUringCqe32[4];
        for (int round = 0; round < 10; round++)
        {
            for (int i = 0; i < 4; i++)
            {
                ulong id = (ulong)(round * 4 + i);
                PrepNop32(ring.GetSqeOrThrow(), id, (int)id, id * 3 + 1, ~id);
            }
            ring.SubmitAndWait(4);
            int n = ring.PeekCompletions(cqes);
            if (round == 0 && n > 0) RequireNopCqe32(cqes[0]);
            Assert.Equal(4, n);
            foreach (IoUringCqe32 c in cqes)
            {
                Assert.Equal((int)c.UserData, c.Res);
                Assert.Equal(c.UserData * 3 + 1, c.BigCqe0);
                Assert.Equal(~c.UserData, c.BigCqe1);
            }
        }
    }

    [Fact]
    public void ARingWith16ByteCqesRefusesThe32ByteApi()
    {
        using IoUring ring = Rings.Create(4);
        Assert.Throws<InvalidOperationException>(() => ring.TryPeekCompletion32(out _));
        Assert.Throws<InvalidOperationException>(() => ring.PeekCompletions(new IoUringCqe32[1]));
        // and the kernel refuses IORING_NOP_CQE32 there (where it knows the flag)
        PrepNop32(ring.GetSqeOrThrow(), 1, 0, 1, 2);
        Assert.Equal(-(int)Errno.EINVAL, Rings.SubmitOne(ring).Res);
    }
}
