/**
 * Tells apart the signals a long-running command gets: the first (stop
 * gracefully), a copy of that same Ctrl-C arriving shortly after (ignore), and
 * a deliberate second one (stop now). One Ctrl-C can arrive twice: from the
 * terminal, whose process group we share with npm, and relayed by npm, which
 * forwards it to its script's shell; where that shell execs us (bash does, and
 * is /bin/sh on some systems) the relayed copy reaches us too.
 */
export type SignalTurn = 'first' | 'repeat' | 'again';

export function signalSequence(repeatWindowMs: number, now: () => number = Date.now): () => SignalTurn {
  let firstAt: number | undefined;
  return () => {
    const at = now();
    if (firstAt === undefined) {
      firstAt = at;
      return 'first';
    }
    return at - firstAt < repeatWindowMs ? 'repeat' : 'again';
  };
}
