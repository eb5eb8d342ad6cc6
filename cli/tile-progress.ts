/**
 * `hugemap tile`'s progress on stderr: a bar on a terminal, else a plain line
 * every few seconds (`hugemap: 42% tile ...`) that a log file or CI output can
 * show, else nothing (--quiet). Percent, tiles, finished levels, MP/s and ETA
 * come from one meter; a value it cannot know yet is shown as `--`, never NaN.
 */
import type { Writable } from 'node:stream';
import cliProgress from 'cli-progress';
import type { TileProgress } from '../shared/tiling/index.js';
import { formatCount, formatDuration } from './human-format.js';

export interface ProgressView {
  stage: TileProgress['stage'] | 'done';
  /** Whole percent of tiles written; 100 only once the run has finished. */
  percent: number;
  tilesDone: number;
  tilesTotal: number;
  levelsDone: number;
  levels: number;
  /** Pixels cut per second since tiling began; undefined until it can be measured. */
  megapixelsPerSecond: number | undefined;
  /** Seconds left at the current rate; undefined until it can be measured. */
  etaSeconds: number | undefined;
  elapsedSeconds: number;
}

/** Below this much tiling time a rate is noise: it shows as `--`. */
const MIN_RATE_WINDOW_S = 0.5;

/** Turns the tiler's reports into a view; `now` is injectable for tests. */
export class ProgressMeter {
  private last: TileProgress | undefined;
  private tilingSince: { at: number; tilesDone: number } | undefined;
  /** When the tile count last grew: the rate is measured up to there, not through a pause. */
  private lastGainAt = 0;
  private readonly startedAt: number;

  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  update(p: TileProgress): void {
    if (p.stage === 'tile' && this.tilingSince === undefined) this.tilingSince = { at: this.now(), tilesDone: p.tilesDone };
    if (p.tilesDone > (this.last?.tilesDone ?? 0)) this.lastGainAt = this.now();
    this.last = p;
  }

  /** undefined before the first report. `finished`: the run has published its result. */
  view(finished = false): ProgressView | undefined {
    const p = this.last;
    if (p === undefined) return undefined;
    const now = this.now();
    const elapsedSeconds = (now - this.startedAt) / 1000;
    const fraction = p.tilesTotal > 0 ? Math.min(1, p.tilesDone / p.tilesTotal) : 0;
    let megapixelsPerSecond: number | undefined;
    let etaSeconds: number | undefined;
    if (finished) {
      megapixelsPerSecond = elapsedSeconds > 0 ? p.pixels / 1e6 / elapsedSeconds : undefined;
      etaSeconds = 0;
    } else if (this.tilingSince !== undefined) {
      // Every tile written, the Huffman pass, thumbnail and descriptor still to come: the rate
      // stays as measured, the time left is unknown (not a stuck "0s").
      const until = fraction >= 1 ? this.lastGainAt : now;
      const seconds = (until - this.tilingSince.at) / 1000;
      const gained = p.tilesTotal > 0 ? (p.tilesDone - this.tilingSince.tilesDone) / p.tilesTotal : 0;
      if (seconds >= MIN_RATE_WINDOW_S && gained > 0) {
        const perSecond = gained / seconds;
        megapixelsPerSecond = (perSecond * p.pixels) / 1e6;
        if (fraction < 1) etaSeconds = (1 - fraction) / perSecond;
      }
    }
    return {
      stage: finished ? 'done' : p.stage,
      // Tiles can all be there while the thumbnail and descriptor are still to come.
      percent: finished ? 100 : Math.min(99, Math.floor(fraction * 100)),
      tilesDone: p.tilesDone,
      tilesTotal: p.tilesTotal,
      levelsDone: p.levelsDone,
      levels: p.levels,
      megapixelsPerSecond,
      etaSeconds,
      elapsedSeconds,
    };
  }
}

export function formatRate(mps: number | undefined): string {
  return mps === undefined || !Number.isFinite(mps) ? '-- MP/s' : `${mps < 10 ? mps.toFixed(1) : Math.round(mps)} MP/s`;
}

/** `hugemap: 42% tile 1,234/5,678 tiles, 9/14 levels, 12.3 MP/s, ETA 5s (photo.jpg)` */
export function plainLine(v: ProgressView, label: string): string {
  const time = v.stage === 'done' ? `took ${formatDuration(v.elapsedSeconds)}` : `ETA ${formatDuration(v.etaSeconds ?? Number.NaN)}`;
  return (
    `hugemap: ${v.percent}% ${v.stage} ${formatCount(v.tilesDone)}/${formatCount(v.tilesTotal)} tiles, ` +
    `${v.levelsDone}/${v.levels} levels, ${formatRate(v.megapixelsPerSecond)}, ${time} (${label})`
  );
}

export interface ProgressDisplay {
  update(p: TileProgress): void;
  /** Stops the display; after a success the plain lines end with a 100% line. */
  finish(succeeded: boolean): void;
}

export type ProgressMode = 'bar' | 'lines' | 'none';

export function progressDisplay(mode: ProgressMode, label: string, stream: Writable, intervalMs: number): ProgressDisplay {
  if (mode === 'bar') return new ProgressBar(label, stream);
  if (mode === 'lines') return new ProgressLines(label, stream, intervalMs);
  return { update: () => undefined, finish: () => undefined };
}

/** A line now and then every `intervalMs`, whether or not the tiler has reported since (a long prepare stage too). */
class ProgressLines implements ProgressDisplay {
  private readonly meter = new ProgressMeter();
  private readonly timer: NodeJS.Timeout;
  private printedFirst = false;

  constructor(private readonly label: string, private readonly stream: Writable, intervalMs: number) {
    this.timer = setInterval(() => this.print(), intervalMs);
    this.timer.unref();
  }

  update(p: TileProgress): void {
    this.meter.update(p);
    if (!this.printedFirst) this.print();
  }

  finish(succeeded: boolean): void {
    clearInterval(this.timer);
    if (succeeded) this.print(true);
  }

  private print(finished = false): void {
    const view = this.meter.view(finished);
    if (view === undefined) return;
    this.printedFirst = true;
    this.stream.write(`${plainLine(view, this.label)}\n`);
  }
}

/** cli-progress draws the bar; the numbers in it are ours (its own ETA shows NaN and Infinity early on). */
class ProgressBar implements ProgressDisplay {
  private readonly meter = new ProgressMeter();
  private readonly bar: cliProgress.SingleBar;
  private started = false;

  constructor(label: string, stream: Writable) {
    this.bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} {stage} [{bar}] {pct}% | {tiles} tiles | {levelsText} levels | {rate} | ETA {timeLeft}`,
        hideCursor: true,
        clearOnComplete: true,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(p: TileProgress): void {
    this.meter.update(p);
    const v = this.meter.view()!;
    const payload = {
      stage: v.stage.padEnd(9),
      pct: String(v.percent).padStart(3),
      tiles: `${formatCount(v.tilesDone)}/${formatCount(v.tilesTotal)}`,
      levelsText: `${v.levelsDone}/${v.levels}`,
      rate: formatRate(v.megapixelsPerSecond),
      timeLeft: formatDuration(v.etaSeconds ?? Number.NaN),
    };
    if (!this.started) {
      this.bar.start(p.tilesTotal, p.tilesDone, payload);
      this.started = true;
    } else {
      this.bar.update(p.tilesDone, payload);
    }
  }

  finish(): void {
    if (this.started) this.bar.stop();
  }
}
