using System;
using System.Collections.Generic;
using VirtioBlk.Core.Interop;

namespace VirtioBlk.Core.Bench;

/// <summary>The CPUs this process may run on (its sched_getaffinity mask, as taskset or a cgroup cpuset leaves it).</summary>
public static unsafe class CpuMask
{
    /// <summary>The most CPUs the mask is read for (1024, as glibc's cpu_set_t).</summary>
    public const int MaxCpus = 1024;

    /// <summary>The allowed CPUs in ascending order, read now (the mask can change while the process runs).</summary>
    public static int[] Allowed()
    {
        ulong* mask = stackalloc ulong[MaxCpus / 64];
        new Span<ulong>(mask, MaxCpus / 64).Clear();
        if (Sys.SchedGetAffinity(0, MaxCpus / 8, mask) != 0)
        {
            // Cannot be read: every CPU the runtime sees.
            var all = new int[Environment.ProcessorCount];
            for (int i = 0; i < all.Length; i++) all[i] = i;
            return all;
        }

        var cpus = new List<int>();
        for (int c = 0; c < MaxCpus; c++)
        {
            if ((mask[c / 64] & (1UL << (c % 64))) != 0) cpus.Add(c);
        }

        return cpus.ToArray();
    }

    /// <summary>"0-3,6": the allowed CPUs for people.</summary>
    public static string Describe(IReadOnlyList<int> cpus)
    {
        var parts = new List<string>();
        for (int i = 0; i < cpus.Count;)
        {
            int j = i;
            while (j + 1 < cpus.Count && cpus[j + 1] == cpus[j] + 1) j++;
            parts.Add(i == j ? $"{cpus[i]}" : $"{cpus[i]}-{cpus[j]}");
            i = j + 1;
        }

        return string.Join(",", parts);
    }
}
