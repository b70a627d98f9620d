import { STATUS_CODES } from 'node:http';
import { HttpException } from '@nestjs/common';

/**
 * An HTTP refusal in the sample's one error shape, `{ statusCode, error, code, message }`: the shape
 * of its fixed answers (`RequestErrorsFilter`) and of its 503s. `code` is what clients switch on.
 */
export function httpError(status: number, code: string, message: string): HttpException {
  return new HttpException(
    { statusCode: status, error: STATUS_CODES[status], code, message },
    status,
  );
}
