import { readFileSync } from 'node:fs';

/** Shares of the machine's CPU time during the run, in percent. */
export interface CpuNoise {
  /** Used by processes other than the bench and its children. */
  foreign: number;
  /** Taken by the hypervisor. */
  steal: number;
}

interface Reading {
  /** Machine-wide busy and total CPU time, clock ticks. */
  busy: number;
  total: number;
  steal: number;
  /** This process and its reaped children (the bench servers, redis-server), clock ticks. */
  own: number;
}

function read(): Reading | undefined {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1);
    const [user, nice, system, idle, iowait, irq, softirq, steal = 0] = cpu.map(Number);
    const self = readFileSync('/proc/self/stat', 'utf8');
    // Fields after "(comm)": state is field 3, utime..cstime are fields 14..17.
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ');
    const [utime, stime, cutime, cstime] = fields.slice(11, 15).map(Number);
    const busy = user + nice + system + irq + softirq;
    return {
      busy,
      total: busy + idle + iowait + steal,
      steal,
      own: utime + stime + cutime + cstime,
    };
  } catch {
    return undefined; // not Linux
  }
}

/**
 * How much of the machine other processes used while the bench ran: the bench cannot tell a slow
 * server from a busy machine, so the results say how quiet the machine was.
 * Call `stop()` after every child process has exited (their CPU time counts as ours once reaped).
 */
export function startCpuMeter(): { stop(): CpuNoise | undefined } {
  const start = read();
  return {
    stop() {
      const end = read();
      if (!start || !end || end.total === start.total) return undefined;
      const total = end.total - start.total;
      const foreign = Math.max(0, end.busy - start.busy - (end.own - start.own));
      const steal = end.steal - start.steal;
      return { foreign: (100 * foreign) / total, steal: (100 * steal) / total };
    },
  };
}
