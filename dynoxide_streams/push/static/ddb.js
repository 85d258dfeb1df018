// The console's DynamoDB client: the public JSON protocol over fetch, same origin.
//
// A call is `POST /` with `X-Amz-Target: DynamoDB_20120810.<Operation>` and an
// `application/x-amz-json-1.0` body, exactly what an SDK sends (unsigned: the server
// accepts any or no Authorization unless it was started with --credentials). Errors
// come back as ApiError carrying the server's exception name and message unchanged.

const TARGET = "DynamoDB_20120810";

export class ApiError extends Error {
  constructor(name, message, status) {
    super(message ? `${name}: ${message}` : name);
    this.name = name;
    this.serverMessage = message ?? "";
    this.status = status;
  }
}

/** Call one DynamoDB operation; resolves to the parsed answer or rejects with ApiError. */
export async function call(operation, params = {}) {
  let response;
  try {
    response = await fetch("/", {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": `${TARGET}.${operation}` },
      body: JSON.stringify(params),
    });
  } catch (error) {
    throw new ApiError("NetworkError", `${operation}: ${error.message}`, 0);
  }
  const raw = await response.text();
  let body = {};
  try {
    body = raw ? JSON.parse(raw) : {};
  } catch {
    body = { message: raw };
  }
  if (!response.ok) {
    const type = String(body.__type || body.error || `HTTP ${response.status}`);
    throw new ApiError(type.slice(type.lastIndexOf("#") + 1), body.message ?? body.Message, response.status);
  }
  return body;
}

/** Every table name (ListTables, following LastEvaluatedTableName). */
export async function listTables() {
  const names = [];
  let start;
  do {
    const page = await call("ListTables", start ? { ExclusiveStartTableName: start } : {});
    names.push(...(page.TableNames || []));
    start = page.LastEvaluatedTableName;
  } while (start);
  return names;
}

/** DescribeTable's Table plus `TimeToLiveDescription` from DescribeTimeToLive. */
export async function describe(name) {
  const [table, ttl] = await Promise.all([
    call("DescribeTable", { TableName: name }),
    call("DescribeTimeToLive", { TableName: name }).catch((error) => ({ error })),
  ]);
  return { ...table.Table, TimeToLiveDescription: ttl.TimeToLiveDescription, ttlError: ttl.error };
}
