// fake-indexeddb ships types its package.json "exports" does not point at; this side-effect import needs none.
declare module "fake-indexeddb/auto"
