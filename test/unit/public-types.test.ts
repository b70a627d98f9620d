import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ts from 'typescript';

// The published declarations, as a consumer's compiler reads them: strict, no skipLibCheck,
// exactOptionalPropertyTypes. Tests run from the repository root (npm test) after build:all.
const root = `${process.cwd()}/`;
const libDir = `${root}dist/lib/`;
const entries = [`${libDir}index.d.ts`, `${libDir}client/index.d.ts`];

const program = ts.createProgram(entries, {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
  types: ['node'],
  strict: true,
  exactOptionalPropertyTypes: true,
  skipLibCheck: false,
  noEmit: true,
});
const checker = program.getTypeChecker();

function resolved(symbol: ts.Symbol): ts.Symbol {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

function exportsOf(file: string): ts.Symbol[] {
  const source = program.getSourceFile(file);
  assert.ok(source, `${file} was not built`);
  const module = checker.getSymbolAtLocation(source);
  assert.ok(module, `${file} is not a module`);
  return checker.getExportsOfModule(module).map(resolved);
}

function isPrivate(node: ts.Node): boolean {
  return (
    ts.canHaveModifiers(node) &&
    (ts.getModifiers(node) ?? []).some((m) => m.kind === ts.SyntaxKind.PrivateKeyword)
  );
}

/** Named types (and `typeof` targets) the declarations of `symbol` mention, with where. */
function referencesOf(symbol: ts.Symbol): Array<{ target: ts.Symbol; where: string }> {
  const found: Array<{ target: ts.Symbol; where: string }> = [];
  for (const declaration of symbol.declarations ?? []) {
    const visit = (node: ts.Node): void => {
      if (isPrivate(node)) return;
      let name: ts.Node | undefined;
      if (ts.isTypeReferenceNode(node)) name = node.typeName;
      else if (ts.isTypeQueryNode(node)) name = node.exprName;
      else if (ts.isExpressionWithTypeArguments(node)) name = node.expression;
      const target = name && checker.getSymbolAtLocation(name);
      // A class built by a function (ConfigurableModuleBuilder's) is a value no consumer names.
      const builtBase =
        ts.isExpressionWithTypeArguments(node) &&
        target !== undefined &&
        !(resolved(target).flags & ts.SymbolFlags.Type);
      if (target && !builtBase && !(target.flags & ts.SymbolFlags.TypeParameter)) {
        found.push({ target: resolved(target), where: `${symbol.name}: ${node.getText()}` });
      }
      ts.forEachChild(node, visit);
    };
    visit(declaration);
  }
  return found;
}

describe('Public types', () => {
  it('compile for a consumer with skipLibCheck off and exactOptionalPropertyTypes on', () => {
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    assert.deepEqual(diagnostics, []);
  });

  it('name only types the entry points export, so consumers can name them too', () => {
    const exported = new Set([...exportsOf(entries[0]), ...exportsOf(entries[1])]);
    const unreachable = new Set<string>();
    for (const symbol of exported) {
      for (const { target, where } of referencesOf(symbol)) {
        const inLibrary = (target.declarations ?? []).some((d) =>
          d.getSourceFile().fileName.startsWith(libDir),
        );
        if (inLibrary && !exported.has(target)) unreachable.add(`${target.name} (in ${where})`);
      }
    }
    assert.deepEqual([...unreachable].sort(), []);
  });

  it('export the async-options types that useClass and useExisting users implement', () => {
    const names = new Set(exportsOf(entries[0]).map((symbol) => symbol.name));
    for (const name of [
      'WsTicketModuleOptions',
      'WsTicketModuleExtras',
      'WsTicketModuleRootOptions',
      'WsTicketModuleAsyncOptions',
      'WsTicketOptionsFactory',
    ]) {
      assert.ok(names.has(name), `${name} is not exported from the main entry`);
    }
  });
});
