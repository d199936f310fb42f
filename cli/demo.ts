export const demo = async (_options: { json?: boolean; limit?: number }): Promise<number> => 0
