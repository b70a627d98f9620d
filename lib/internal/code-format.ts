/**
 * A code as the module's callers may pass one (`disconnectUser`, `removeFromRoom`) and as the
 * other instances send them: one of the module's, or a newer instance's, or an app's own.
 */
export const CODE_FORMAT = /^[a-z][a-z_]{0,63}$/;
