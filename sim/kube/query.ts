/*
 * Query parameters as the API server converts them (apimachinery runtime.Convert_Slice_string_To_bool):
 * "Only the absence of a value, a value of "false", or a value of "0" resolve to false. Any other
 * value (including empty string) resolves to true." So `watch=True` watches and `stdin=yes` opens stdin.
 */
export function queryFlag(query: URLSearchParams, name: string): boolean {
  const value = query.get(name);
  if (value === null) return false;
  return value !== '0' && value.toLowerCase() !== 'false';
}
