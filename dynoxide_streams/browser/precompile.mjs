// Build step (Node): compile the Python modules the engine uses to bytecode with
// Pyodide's own CPython, so a tab does not compile them at every start.
//
//   node precompile.mjs PYODIDE_DIR STDLIB_IN STDLIB_OUT PACKAGE_IN PACKAGE_OUT SERVER_ONLY
//
// Runs the engine once (a table, a write, a query, a subscription, a trigger) to learn
// which modules it imports (and fails if any is server-only: uvicorn, websockets,
// httpx, mcp, dynoxide_streams.{wire.app, sidecar, cli, service, server, mcp, ...}:
// SERVER_ONLY, comma-separated, from build.SERVER_ONLY_MODULES),
// then writes:
// - STDLIB_OUT: the stdlib zip with `<module>.pyc` beside each used `<module>.py`
//   (zipimport prefers the .pyc; sources stay for tracebacks);
// - PACKAGE_OUT: python.zip with `<module>.pyc` beside every `<module>.py` (the worker
//   puts the zip itself on sys.path, as Pyodide does with the stdlib: nothing unpacked).
// Every .pyc is an unchecked-hash pyc (PEP 552): valid whatever the file times are.

import { readFileSync, writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [pyodideDir, stdIn, stdOut, pkgIn, pkgOut, serverOnly] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(`${pyodideDir}/pyodide.mjs`).href);
const py = await loadPyodide({ indexURL: `${pyodideDir}/` });
py.FS.writeFile("/tmp/pkg-in.zip", new Uint8Array(readFileSync(pkgIn)));
py.FS.writeFile("/tmp/std-in.zip", new Uint8Array(readFileSync(stdIn)));
py.FS.writeFile("/lib/dynoxide-streams.zip", new Uint8Array(readFileSync(pkgIn)));
py.runPython("import sys; sys.path.insert(0, '/lib/dynoxide-streams.zip')");
py.FS.mkdirTree("/data/precompile");
await py.runPythonAsync(`
import json
import sys
from pathlib import Path
import anyio
from dynoxide_streams.browser.runtime import BrowserEngine

class Sink:
    def write(self, name, offset, data): pass
    def truncate(self, name, size): pass
    def flush(self, name): pass
    def restore(self, name, path): pass

async def exercise():
    engine = BrowserEngine(Path("/data/precompile"), clock="virtual", sink=Sink())
    async with anyio.create_task_group() as tg:
        await tg.start(engine.run)
        ddb = "DynamoDB_20120810."
        await engine.send(ddb + "CreateTable", json.dumps({"TableName": "warm",
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
            "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}}))
        await engine.subscribe(json.dumps({"action": "subscribe", "id": "s",
                                           "table": "warm", "from": "TRIM_HORIZON"}),
                               lambda frame: None)
        invoked = anyio.Event()
        async def handler(event):
            invoked.set()
            return "null"
        engine.add_trigger("warm", '{"table": "warm"}', handler)
        await engine.send(ddb + "PutItem", '{"TableName":"warm","Item":{"pk":{"S":"a"}}}')
        await engine.send(ddb + "Query", '{"TableName":"warm","KeyConditionExpression":"pk = :p",'
                          '"ExpressionAttributeValues":{":p":{"S":"a"}}}')
        await engine.send(ddb + "UpdateItem", '{"TableName":"warm","Key":{"pk":{"S":"a"}},'
                          '"UpdateExpression":"SET n = :n","ConditionExpression":"attribute_exists(pk)",'
                          '"ExpressionAttributeValues":{":n":{"N":"1"}}}')
        await engine.export_bytes()
        await invoked.wait()
        engine.stop()

await exercise()

# the engine must load without the server: fail the build if a server module came in
SERVER_ONLY = "${serverOnly}".split(",")
loaded = sorted(m for m in sys.modules if any(m == s or m.startswith(s + ".") for s in SERVER_ONLY))
if loaded:
    raise SystemExit(f"the browser engine imported server-only modules: {loaded}")
`);
py.runPython(`
import importlib.util
import sys
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc

STD = "/lib/python314.zip/"
PACKAGE = "/lib/dynoxide-streams.zip/"
used = {m.__file__[len(STD):] for m in list(sys.modules.values())
        if (getattr(m, "__file__", None) or "").startswith(STD)}

def pyc(data, filename):
    code = compile(data, filename, "exec", dont_inherit=True)
    return _code_to_hash_pyc(code, importlib.util.source_hash(data), False)

with zipfile.ZipFile("/tmp/std-in.zip") as zin, \\
        zipfile.ZipFile("/tmp/std-out.zip", "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        data = zin.read(info)
        zout.writestr(info, data)
        if info.filename in used and info.filename.endswith(".py"):
            zout.writestr(info.filename + "c", pyc(data, STD + info.filename))

with zipfile.ZipFile("/tmp/pkg-in.zip") as zin, \\
        zipfile.ZipFile("/tmp/pkg-out.zip", "w", zipfile.ZIP_DEFLATED) as zout:
    for info in zin.infolist():
        data = zin.read(info)
        zout.writestr(info, data)
        if info.filename.endswith(".py"):
            zout.writestr(info.filename + "c", pyc(data, PACKAGE + info.filename))
print(f"precompiled {len(used)} stdlib modules and the package")
`);
writeFileSync(stdOut, py.FS.readFile("/tmp/std-out.zip"));
writeFileSync(pkgOut, py.FS.readFile("/tmp/pkg-out.zip"));
