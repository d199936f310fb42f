/** The gateway's version, as `/health` reports it; a test keeps it equal to package.json's. */
export const VERSION = "0.1.0"
