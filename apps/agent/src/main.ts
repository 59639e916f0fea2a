// tcpstate-agent: entry point. Parses options, boots the Nest application and
// turns every start-up failure into one line and a non-zero exit.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { helpText, OptionsError, parseOptions, runProgram } from '@tcpstate/config';
import { type AgentOptions, agentOptionSpecs, checkAgentOptions } from './agent-options.js';
import { AgentModule } from './agent.module.js';

runProgram('tcpstate-agent', async (argv) => {
  const { values, help } = parseOptions(agentOptionSpecs, argv);
  if (help) {
    console.log(helpText('tcpstate-agent [options]', 'Captures every TCP state transition on this host with eBPF and serves them over gRPC (tcpstate.v1.AgentService).', agentOptionSpecs));
    return;
  }
  const options = values as unknown as AgentOptions;
  const problems = checkAgentOptions(options);
  if (problems.length > 0) throw new OptionsError(problems);
  const app = await NestFactory.createApplicationContext(AgentModule.forRoot(options), {
    logger: ['error', 'warn', 'log'],
    abortOnError: false,
  });
  await app.init();
  return app;
});
