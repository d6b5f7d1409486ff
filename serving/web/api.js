// The API, as the page calls it: JSON in, JSON out, and every failure an ApiError whose message
// a person can read (the service's `detail`, or what went wrong on the way).

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// The `detail` of an error answer as text: a string, {message}, or a list of validation errors.
function describe(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((e) => [(e.loc || []).filter((part) => part !== "body").join("."), e.msg]
        .filter(Boolean).join(": "))
      .join("; ");
  }
  if (detail && typeof detail.message === "string") return detail.message;
  return "";
}

export async function request(path, { method = "GET", body, signal } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      signal,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The service cannot be reached. Is it running?");
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const detail = describe(data && data.detail);
    throw new ApiError(response.status, detail || `The service answered ${response.status}.`);
  }
  return data;
}

const track = (uri) => encodeURIComponent(uri);

export const searchTracks = (q, count = 20, signal = undefined) =>
  request(`/v1/tracks/search?${new URLSearchParams({ q, count })}`, { signal });

export const similarTracks = (uri, count = 10, signal = undefined) =>
  request(`/v1/tracks/${track(uri)}/similar?count=${count}`, { signal });

export const similarPlaylists = (body, signal = undefined) =>
  request("/v1/playlists/similar", { method: "POST", body, signal });

export const model = () => request("/v1/model");

export const map = () => request("/v1/map");
