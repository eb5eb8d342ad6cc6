/** The shape of bench/results/*.json, shared by the runner, the report writers and the test. */
import type { ImageKind } from './corpus.js';
import type { Spread } from './stats.js';
import type { S3ServerKind } from '../services/dev/local-servers.js';

export interface RunFigures {
  wallS: number;
  peakRssMB: number;
  /** The measured process's own memory (RssAnon, sampled): peak RSS minus libraries and mapped files. */
  peakAnonMB?: number;
  outputBytes: number;
  /**
   * CPU seconds of every process the contender needs, servers included: a one-shot tiler's own
   * (time -v); the service path's whole stack (API, worker, Redis, FerretDB, MinIO, from /proc);
   * the shell script's dzsave and rclone plus the stack's servers (MinIO) during its upload.
   */
  cpuS?: number;
  /** Service path only. */
  firstViewS?: number;
  /** Service path, JPEG inputs: upload start until the preview is in S3 (what the viewer shows first). */
  previewS?: number;
  /** Service path: upload start until the API answered 202 (the original stored, the job queued). */
  acceptedS?: number;
  apiRssMB?: number;
  workerRssMB?: number;
  workerAnonMB?: number;
  /** Shell-script baseline: seconds of its upload step (rclone), included in wallS. */
  uploadS?: number;
}

export interface ContenderResult {
  image: string;
  megapixels: number;
  contender: string;
  label: string;
  runs: RunFigures[];
  wallS: Spread;
  /** Megapixels per second at the median wall time. */
  mpPerS: number;
  peakRssMB: Spread;
  cpuS?: Spread;
  /** Median over runs (they should be identical). */
  outputBytes: number;
  /** Median wall time over vips dzsave's median on the same image; null without vips. */
  ratioToVips: number | null;
  firstViewS?: Spread;
  previewS?: Spread;
  /** Service path: from the 202 to the last tile (wall minus accepted, per run), and its ratio to vips dzsave. */
  acceptedToDoneS?: Spread;
  acceptedToDoneRatio?: number | null;
  apiRssMB?: Spread;
  workerRssMB?: Spread;
  peakAnonMB?: Spread;
  workerAnonMB?: Spread;
  uploadS?: Spread;
}

export interface MemoryPoint {
  image: string;
  kind: ImageKind;
  megapixels: number;
  hugemapTile: { peakRssMB: number; peakAnonMB?: number; wallS: number } | null;
  worker: { peakRssMB: number; peakAnonMB?: number; wallS: number } | null;
  /** Set when hugemap refuses the input by design (e.g. HUGEMAP_ERR_NOT_STREAMABLE): the error's first line. */
  refused?: string;
  /** Set when a measurement failed for another reason (the run goes on): the error's first line. */
  failed?: string;
}

export interface ThroughputResult {
  workers: number;
  /** The whole stack ran on this many cores (N workers on N cores), or null: not pinned. */
  cores: number | null;
  images: number;
  imageName: string;
  /** Medians over the rounds. */
  seconds: number;
  imagesPerMinute: number;
  /** Each round's figures, in the order run (bench/throughput.ts). */
  rounds: Array<{ seconds: number; imagesPerMinute: number; cpuSeconds?: number; workerCpuSeconds?: number; wakeups?: number | null }>;
  /**
   * CPU seconds of the whole stack per image, over the rounds: more per image with more workers is
   * work that contention adds (locks, caches, the servers); the same with a speed-up below N means
   * cores stood idle. Absent in results from before 2026-12-06.
   */
  cpuSecondsPerImage?: Spread;
  /** Of that, the workers' own. */
  workerCpuSecondsPerImage?: Spread;
  /**
   * Rescheduling interrupts (one core waking a task on another) per image, over the rounds; null
   * where /proc/interrupts has none. On one core there are next to none; on two, the loopback
   * requests between worker, S3 server and the rest wake their peers across cores, and in a VM
   * each such interrupt costs both sides.
   */
  wakeupsPerImage?: Spread | null;
  /** Fraction of the pinned cores' time the stack used (CPU seconds / (seconds x cores)); null where not pinned. */
  coresBusy?: Spread | null;
  /** Images per minute over 1 worker's in the same round, over the rounds; null for 1 worker. */
  speedUp: Spread | null;
  /** Each worker's largest peak RSS over the rounds. */
  workerRssMB: number[];
  /** The S3 server of the runs' stack (`--throughput-s3`); absent in results from before the flag: MinIO. */
  s3Server?: S3ServerKind;
}

export interface BenchResults {
  meta: {
    startedAt: string;
    finishedAt: string;
    command: string;
    quick: boolean;
    runs: number;
    machine: { cpus: number; cpuModel: string; memoryGB: number; loadAvgAtStart: number[] };
    versions: Record<string, string>;
    workerAllocator: string;
    firstViewDefinition: string;
    skipped: string[];
  };
  images: Array<{ name: string; kind: ImageKind; width: number; height: number; megapixels: number; bytes: number }>;
  results: ContenderResult[];
  memoryCurve: MemoryPoint[];
  throughput: ThroughputResult[];
}
