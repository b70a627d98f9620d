import { STATUS_CODES } from 'node:http';
import {
  type ArgumentsHost,
  Catch,
  HttpException,
  type HttpServer,
  HttpStatus,
  NotFoundException,
} from '@nestjs/common';
import { BaseExceptionFilter } from '@nestjs/core';

/** What the sample answers to a request it could not read. */
interface FixedAnswer {
  status: number;
  code: string;
  message: string;
}

/**
 * Answers by body-parser's error `type`. Its own messages repeat the input: the JSON parser's
 * quotes part of the body, the charset and encoding ones the request's headers.
 */
const BODY_ERRORS: Readonly<Record<string, FixedAnswer>> = {
  'entity.parse.failed': {
    status: HttpStatus.BAD_REQUEST,
    code: 'bad_request',
    message: 'The request body is not valid JSON.',
  },
  'entity.too.large': {
    status: HttpStatus.PAYLOAD_TOO_LARGE,
    code: 'payload_too_large',
    message: 'The request body is too large.',
  },
  'parameters.too.many': {
    status: HttpStatus.PAYLOAD_TOO_LARGE,
    code: 'payload_too_large',
    message: 'The request body has too many parameters.',
  },
  'charset.unsupported': {
    status: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
    code: 'unsupported_media_type',
    message: 'The charset of the request body is not supported.',
  },
  'encoding.unsupported': {
    status: HttpStatus.UNSUPPORTED_MEDIA_TYPE,
    code: 'unsupported_media_type',
    message: 'The content encoding of the request body is not supported.',
  },
};

const BAD_PATH: FixedAnswer = {
  status: HttpStatus.BAD_REQUEST,
  code: 'bad_request',
  message: 'The request path is not valid.',
};

const NO_ROUTE: FixedAnswer = {
  status: HttpStatus.NOT_FOUND,
  code: 'not_found',
  message: 'There is no such route.',
};

/**
 * Answers the errors raised about a request before any sample handler runs (body parser, path
 * decoding, unknown route) with fixed text. Nest passes on their messages, which quote the request:
 * part of a malformed JSON body, a header, the path. A reflected body can carry a password or a
 * token into a client's error log; fixed answers carry nothing. Every other exception is answered
 * as Nest's built-in filter answers it.
 */
@Catch(HttpException)
export class RequestErrorsFilter extends BaseExceptionFilter {
  override catch(exception: HttpException, host: ArgumentsHost): void {
    const answer = host.getType() === 'http' ? this.fixedAnswer(exception, host) : undefined;
    if (!answer) {
      super.catch(exception, host);
      return;
    }
    const { status, code, message } = answer;
    const http = this.adapter();
    const response = host.switchToHttp().getResponse<unknown>();
    if (!http || http.isHeadersSent(response)) {
      super.catch(exception, host);
      return;
    }
    http.reply(
      response,
      { statusCode: status, error: STATUS_CODES[status], code, message },
      status,
    );
  }

  private fixedAnswer(exception: HttpException, host: ArgumentsHost): FixedAnswer | undefined {
    const { cause } = exception;
    const type = (cause as { type?: unknown } | undefined)?.type;
    if (typeof type === 'string' && cause instanceof Error) {
      // A body-parser error of a kind not listed keeps its status, not its message.
      return (
        BODY_ERRORS[type] ?? {
          status: exception.getStatus(),
          code: 'bad_request',
          message: 'The request body could not be read.',
        }
      );
    }
    if (cause instanceof URIError) return BAD_PATH;
    if (exception instanceof NotFoundException && this.isNoRoute(exception, host)) return NO_ROUTE;
    return undefined;
  }

  /** Nest's unknown-route answer is `Cannot <METHOD> <url>`; the sample's own 404s say otherwise. */
  private isNoRoute(exception: NotFoundException, host: ArgumentsHost): boolean {
    const http = this.adapter();
    if (!http) return false;
    const request = host.switchToHttp().getRequest<unknown>();
    return (
      exception.message ===
      `Cannot ${http.getRequestMethod?.(request)} ${http.getRequestUrl?.(request)}`
    );
  }

  private adapter(): HttpServer | undefined {
    return this.applicationRef ?? this.httpAdapterHost?.httpAdapter;
  }
}
