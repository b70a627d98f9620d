import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import ts from 'typescript';

// Every ```ts block of README.md, type-checked as its own module against the BUILT package the way
// a `nest new` app's compiler reads it. `nestjs-ws-ticket` and its subpaths resolve through
// package.json `exports` (a package may import itself by name under nodenext), so a README import
// of a subpath the package does not export fails here. Tests run from the repository root
// (npm test) after build:all.
const root = `${process.cwd()}/`;
const readme = readFileSync(`${root}README.md`, 'utf8');

/** Where the snippets live, as if they were files of an app inside this package. */
const dir = `${root}.readme-snippets/`;

/** `nest new`'s compiler settings, made as strict as the brief of issue #12 asks. */
const options: ts.CompilerOptions = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2023,
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  isolatedModules: true,
  esModuleInterop: true,
  skipLibCheck: false,
  noEmit: true,
};

/**
 * The reader's own files that snippets import (`./users.service.js`…): what any app has, kept as
 * small as a snippet needs. A README block whose first line is `// <name>.ts` becomes that file, so
 * blocks may import each other (`./chat.gateway.js`).
 *
 * Their signatures are what a user would naturally write (`findActive(id: string)`, not
 * `id: unknown`), never more lenient: a stub that accepts anything would let a snippet compile here
 * that fails in the reader's app (`users.findActive(claims.sub)` with `sub: string | undefined`,
 * TS2345).
 */
const APP_FILES: Record<string, string> = {
  'users.service.ts': `
    import { Injectable, Module } from '@nestjs/common';
    export interface User { id: string; username: string }
    @Injectable()
    export class UsersService {
      async findActive(id: string): Promise<User | null> { return id === '' ? null : { id, username: id }; }
      async invalidateSessions(_id: string): Promise<void> {}
    }
    @Module({ providers: [UsersService], exports: [UsersService] })
    export class UsersModule {}
  `,
  'auth/jwt-auth.guard.ts': `
    import { type CanActivate, Injectable } from '@nestjs/common';
    /** The app's HTTP authentication (Passport's AuthGuard('jwt') or its own): sets request.user. */
    @Injectable()
    export class JwtAuthGuard implements CanActivate { canActivate(): boolean { return true; } }
    export interface AuthenticatedRequest { user: { id: string; exp: number }; headers: Record<string, string | string[] | undefined> }
  `,
  'seats.ts': `
    export const seats = { async has(_userId: string): Promise<boolean> { return true; } };
  `,
};

interface Block {
  /** 1-based line of the opening fence in README.md. */
  line: number;
  info: string;
  code: string;
}

function blocks(markdown: string): Block[] {
  const found: Block[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && lines[i] !== '```'; i++) body.push(lines[i]);
    found.push({ line: start + 1, info: `${open[1]}${open[2]}`.trim(), code: body.join('\n') });
  }
  return found;
}

const tsBlocks = blocks(readme).filter((block) => /^(ts|typescript)\b/.test(block.info));
const fragments = tsBlocks.filter((block) => /\bfragment\b/.test(block.info));
const compiled = tsBlocks.filter((block) => !fragments.includes(block));

/** The virtual file name of a block: its `// name.ts` first line, or its README line. */
function fileOf(block: Block): string {
  const named = /^\/\/ ([\w./-]+\.ts)\s*$/.exec(block.code.split('\n')[0]);
  return `${dir}${named ? named[1] : `readme-line-${block.line}.ts`}`;
}

/** Type-checks `snippets` (by default every compiled README block) with APP_FILES beside them. */
function check(snippets: Block[] = compiled) {
  const files = new Map<string, string>();
  for (const [name, code] of Object.entries(APP_FILES)) files.set(`${dir}${name}`, code);
  const owners = new Map<string, Block>();
  for (const block of snippets) {
    const file = fileOf(block);
    assert.ok(
      !owners.has(file),
      `README lines ${owners.get(file)?.line} and ${block.line} are both ${file}`,
    );
    owners.set(file, block);
    files.set(file, block.code);
  }
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile, directoryExists } = host;
  host.fileExists = (name) => files.has(name) || fileExists.call(host, name);
  host.directoryExists = (name) =>
    [...files.keys()].some((file) => file.startsWith(`${name}/`)) ||
    (directoryExists?.call(host, name) ?? true);
  host.readFile = (name) => files.get(name) ?? readFile.call(host, name);
  host.getSourceFile = (name, language, ...rest) => {
    const code = files.get(name);
    return code === undefined
      ? getSourceFile.call(host, name, language, ...rest)
      : ts.createSourceFile(name, code, language, true);
  };
  const program = ts.createProgram([...owners.keys()], options, host);
  // Third-party declarations are theirs to fix (@nestjs/cache-manager 12's d.ts, for one, fails
  // exactOptionalPropertyTypes); this package's own (dist/lib) and the snippets are checked.
  const ours = (diagnostic: ts.Diagnostic) => !diagnostic.file?.fileName.includes('/node_modules/');
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter(ours)
    .map((diagnostic) => {
      const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
      const file = diagnostic.file;
      if (!file || diagnostic.start === undefined) return text;
      const { line } = file.getLineAndCharacterOfPosition(diagnostic.start);
      const block = owners.get(file.fileName);
      const where = block
        ? `README.md:${block.line + 1 + line}`
        : `${file.fileName.replace(root, '')}:${line + 1}`;
      return `${where}: ${text}`;
    });
  return problems;
}

describe('README TypeScript snippets', () => {
  it('type-check under nest new settings against the built package (strict, nodenext)', (t) => {
    const problems = check();
    t.diagnostic(
      `${compiled.length} ts blocks compiled, ${fragments.length} marked fragment skipped`,
    );
    assert.deepEqual(problems, []);
  });

  it("would catch a snippet that passes claims.sub where the reader's own code wants a string", () => {
    // The mistake the quick start once made: the stubs must be as strict as a reader's app.
    const problems = check([
      {
        line: 0,
        info: 'ts',
        code: [
          "import { WsTicketModule } from 'nestjs-ws-ticket';",
          "import { seats } from './seats.js';",
          "import { UsersService } from './users.service.js';",
          'declare const users: UsersService;',
          'WsTicketModule.forRoot({ resolveUser: (claims) => users.findActive(claims.sub) });',
          'WsTicketModule.forRoot({ resolveUser: async (claims) => seats.has(claims.sub) });',
        ].join('\n'),
      },
    ]);
    assert.equal(problems.length, 2, problems.join('\n'));
    for (const problem of problems) {
      assert.match(
        problem,
        /'string \| undefined' is not assignable to parameter of type 'string'/,
      );
    }
  });

  it('are complete modules, with fragments rare and marked', () => {
    assert.ok(compiled.length >= 15, `only ${compiled.length} blocks compiled`);
    assert.ok(
      fragments.length <= 3,
      `${fragments.length} fragments (lines ${fragments.map((b) => b.line).join(', ')})`,
    );
    for (const block of compiled) {
      assert.match(block.code, /^(import|export) /m, `README.md:${block.line} is not a module`);
    }
  });
});
