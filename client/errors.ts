/** Errors of the HTTP API as the client sees them: the API's stable code, its message and the HTTP status. */
export class HugemapApiError extends Error {
  constructor(
    /** `HUGEMAP_ERR_*`, as in the API's `{error: {code, message}}` body (or the failed image's status). */
    readonly code: string,
    message: string,
    /** HTTP status; 0 when the error is an image's failed job rather than a response. */
    readonly status: number,
  ) {
    super(message);
    this.name = 'HugemapApiError';
  }
}

/** `waitUntilDone` gave up before the image finished. */
export class HugemapTimeoutError extends HugemapApiError {
  constructor(id: string, ms: number) {
    super('HUGEMAP_ERR_CLIENT_TIMEOUT', `image ${id} did not finish within ${ms} ms`, 0);
    this.name = 'HugemapTimeoutError';
  }
}

export async function errorFromResponse(res: Response): Promise<HugemapApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: { code?: unknown; message?: unknown } };
    if (body.error && typeof body.error.code === 'string') {
      return new HugemapApiError(body.error.code, String(body.error.message ?? ''), res.status);
    }
  } catch {
    /* not our JSON: a proxy's page, say */
  }
  return new HugemapApiError(`HUGEMAP_ERR_HTTP_${res.status}`, `HTTP ${res.status}: ${text.slice(0, 200)}`, res.status);
}
