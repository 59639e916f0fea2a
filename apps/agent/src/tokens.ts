/** Injection tokens of the agent's plain values. */
export const AGENT_OPTIONS = Symbol('AgentOptions');
