// tcpstate-collector: entry point. Parses options, boots the Nest application
// and turns every start-up failure into one line and a non-zero exit.
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { helpText, OptionsError, parseOptions, runProgram } from '@tcpstate/config';
import { type CollectorOptions, checkCollectorOptions, collectorOptionSpecs } from './collector-options.js';
import { CollectorModule } from './collector.module.js';

runProgram('tcpstate-collector', async (argv) => {
  const { values, help } = parseOptions(collectorOptionSpecs, argv);
  if (help) {
    console.log(helpText('tcpstate-collector [options]', 'Subscribes to tcpstate agents, stores their events and serves timeline queries (tcpstate.v1.CollectorService).', collectorOptionSpecs));
    return;
  }
  const options = values as unknown as CollectorOptions;
  const problems = checkCollectorOptions(options);
  if (problems.length > 0) throw new OptionsError(problems);
  const app = await NestFactory.createApplicationContext(CollectorModule.forRoot(options), {
    logger: ['error', 'warn', 'log'],
    abortOnError: false,
  });
  await app.init();
  return app;
});
