/** Masks the credentials of URLs (`//user:pass@host`) a driver's message or stack may quote. */
export function maskCredentials(text: string): string {
  return text.replace(/\/\/[^/@\s]*@/g, '//***@');
}
