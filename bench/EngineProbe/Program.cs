using System;
using VirtioBlk.Core.Bench;

// EngineProbe DEVICE QD BATCH IOCOUNT [buffered 0|1] [verify 0|1]: one engine run, the way the cmdlet runs it
// (-NoLatency, registered files and buffers, random 4 KiB reads), printing what it did.
string dev = args[0];
int qd = int.Parse(args[1]), batch = int.Parse(args[2]);
long count = long.Parse(args[3]);
bool buffered = args.Length > 4 && args[4] == "1";
bool latency = args.Length > 5 && args[5] == "1";
BenchmarkRunResult r = BenchmarkEngine.Run(new BenchmarkOptions
{
    DevicePath = dev, QueueDepth = qd, SubmitBatch = batch, CompleteBatch = batch, FixedBuffers = true, RegisteredFiles = true,
    Direct = !buffered, RecordLatency = latency, IoCount = count, CpuAffinity = new[] { -1 },
});
Console.WriteLine($"ios={r.TotalIos} errors={r.Errors} submitcalls={r.SubmitCalls} reapcalls={r.ReapCalls} alloc={r.AllocatedBytes}");
