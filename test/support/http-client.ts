/** A JSON call against a real kith server (not `inject`), as the user holding `token`. */
export async function callServer(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  token = '',
) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(body ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return {
    status: res.status,
    text,
    json: <T = Record<string, string>>() => JSON.parse(text) as T,
  };
}
