/** A finished command as a target reports it: the record every parser and report starts from. */
export interface RawRun {
  argv: string[];
  stdout: string;
  stderr: string;
  exitCode: number | null;
  signal?: string | undefined;
  timedOut: boolean;
  durationMs: number;
  /**
   * A streamed process (ExecOptions.stream): bytes of stdout and of stderr not kept (only their
   * last STREAM_TAIL_BYTES are), and stdout lines too long to be output (counted, not handed on).
   */
  dropped?: { stdoutBytes: number; stderrBytes: number; overlongLines: number };
}
