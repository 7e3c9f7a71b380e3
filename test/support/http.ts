/** The `authorization` header value of HTTP Basic auth for `user` and `password`. */
export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
