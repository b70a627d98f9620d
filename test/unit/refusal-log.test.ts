import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WsTicketError } from '../../lib/index.js';
import { RefusalLog } from '../../lib/session/index.js';

/** A logger that keeps what the log wrote, level by level. */
function capture() {
  const warnings: string[] = [];
  const errors: { message: string; stack: string | undefined }[] = [];
  const logger = {
    warn: (message: string) => warnings.push(message),
    error: (message: string, stack?: string) => errors.push({ message, stack }),
  };
  return { warnings, errors, log: new RefusalLog(logger) };
}

describe('RefusalLog failures', () => {
  it('logs the first failure of a kind with its stack and only counts the next ones', () => {
    const { warnings, errors, log } = capture();
    for (let i = 0; i < 3; i++) log.recordFailure('resolveUser threw', new Error(`down ${i}`));
    assert.equal(errors.length, 1);
    assert.equal(errors[0].message, 'resolveUser threw: down 0');
    assert.match(errors[0].stack ?? '', /^Error: down 0\n\s+at /);
    log.flush();
    assert.deepEqual(warnings, ['resolveUser threw: 2 more in the last 60 s']);
  });

  it('masks URL credentials in the message and in the stack', () => {
    const { errors, log } = capture();
    log.recordFailure('failed', new Error('cannot reach redis://admin:s3cret@10.0.0.5:6379'));
    const [{ message, stack }] = errors;
    assert.equal(message, 'failed: cannot reach redis://***@10.0.0.5:6379');
    assert.ok(stack?.includes('redis://***@10.0.0.5:6379'), 'the stack lost its message');
    assert.ok(!`${message}${stack}`.includes('s3cret'), 'a password was logged');
  });

  it('writes the stack through warn when the logger has no error method', () => {
    const lines: string[] = [];
    new RefusalLog({ warn: (line) => lines.push(line) }).recordFailure('failed', new Error('x'));
    assert.equal(lines.length, 1);
    assert.match(lines[0], /^failed: x\nError: x\n\s+at /);
  });

  it('logs what is thrown that is no Error (a string, an object without a prototype)', () => {
    const { errors, log } = capture();
    log.recordFailure('a', 'plain text');
    log.recordFailure('b', Object.create(null));
    assert.deepEqual(errors, [
      { message: 'a: plain text', stack: undefined },
      { message: 'b: object', stack: undefined },
    ]);
  });

  it('passes a WsTicketError as is and turns anything else into a logged store_unavailable', () => {
    const { errors, log } = capture();
    const refusal = new WsTicketError('user_revoked');
    assert.equal(log.coded('failed', refusal), refusal);
    assert.equal(errors.length, 0);
    const internal = new Error('connect ECONNREFUSED 10.0.0.5:5432');
    const coded = log.coded('failed', internal);
    assert.ok(coded instanceof WsTicketError);
    assert.equal(coded.message, 'store_unavailable');
    assert.deepEqual(coded.data, { code: 'store_unavailable' });
    assert.equal(coded.cause, internal);
    assert.equal(errors.length, 1);
  });
});
