import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { HANG_BOUND } from '../redis/support/http.js';
import { SAMPLE_TICKET_PATH } from '../redis/support/sample.js';
import { type SampleProcess, startSample } from '../support/sample-process.js';

/**
 * Short enough that V8's JSON error, which quotes about ten characters around the fault, would
 * repeat it whole.
 */
const MARKER = 'LEAK7f3a9';

/** Fixed answers carry a code and a message of the sample's own, nothing of the request. */
async function assertFixedAnswer(
  response: Response,
  expected: { status: number; code: string; message: string },
): Promise<void> {
  const text = await response.text();
  assert.equal(response.status, expected.status);
  assert.ok(!text.includes(MARKER), `the answer repeats the request: ${text}`);
  const body = JSON.parse(text) as { statusCode?: number; code?: string; message?: string };
  assert.equal(body.statusCode, expected.status);
  assert.equal(body.code, expected.code);
  assert.equal(body.message, expected.message);
}

function post(url: string, path: string, body: string, headers: Record<string, string> = {}) {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
    signal: AbortSignal.timeout(HANG_BOUND),
  });
}

describe('The sample never repeats the request in an error', () => {
  let sample: SampleProcess;
  let url: string;

  before(async () => {
    sample = await startSample();
    url = sample.url;
  });
  after(() => sample.stop());

  it('answers a malformed JSON login with a fixed 400', async () => {
    const body = `{"username":"alice","password": ${MARKER}}`;
    // The parser's own message would have quoted the marker.
    assert.throws(() => JSON.parse(body), new RegExp(MARKER));
    await assertFixedAnswer(await post(url, '/api/auth/login', body), {
      status: 400,
      code: 'bad_request',
      message: 'The request body is not valid JSON.',
    });
  });

  it('answers a malformed JSON body to the ticket endpoint with a fixed 400', async () => {
    await assertFixedAnswer(await post(url, SAMPLE_TICKET_PATH, `{"x": ${MARKER}}`), {
      status: 400,
      code: 'bad_request',
      message: 'The request body is not valid JSON.',
    });
  });

  it('answers an unsupported charset with a fixed 415', async () => {
    const response = await post(url, '/api/auth/login', '{}', {
      'content-type': `application/json; charset=${MARKER}`,
    });
    await assertFixedAnswer(response, {
      status: 415,
      code: 'unsupported_media_type',
      message: 'The charset of the request body is not supported.',
    });
  });

  it('answers an unsupported content encoding with a fixed 415', async () => {
    const response = await post(url, '/api/auth/login', '{}', { 'content-encoding': MARKER });
    await assertFixedAnswer(response, {
      status: 415,
      code: 'unsupported_media_type',
      message: 'The content encoding of the request body is not supported.',
    });
  });

  it('answers an unknown route with a fixed 404', async () => {
    await assertFixedAnswer(await post(url, `/api/${MARKER}`, '{}'), {
      status: 404,
      code: 'not_found',
      message: 'There is no such route.',
    });
  });

  it('answers a path that does not decode with a fixed 400', async () => {
    const response = await fetch(`${url}/assets/%FF${MARKER}`, {
      signal: AbortSignal.timeout(HANG_BOUND),
    });
    await assertFixedAnswer(response, {
      status: 400,
      code: 'bad_request',
      message: 'The request path is not valid.',
    });
  });

  it('answers a wrong password with its own 401, without the password', async () => {
    const credentials = JSON.stringify({ username: 'alice', password: MARKER });
    const response = await post(url, '/api/auth/login', credentials);
    const text = await response.text();
    assert.equal(response.status, 401);
    assert.ok(!text.includes(MARKER), `the answer repeats the request: ${text}`);
    assert.equal((JSON.parse(text) as { message?: string }).message, 'Wrong username or password.');
  });

  it('answers an unknown asset with 404, without its name', async () => {
    const response = await fetch(`${url}/assets/${MARKER}.js`, {
      signal: AbortSignal.timeout(HANG_BOUND),
    });
    const text = await response.text();
    assert.equal(response.status, 404);
    assert.ok(!text.includes(MARKER), `the answer repeats the request: ${text}`);
  });
});
