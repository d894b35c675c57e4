"""Real instrument drivers, imported as ``labctl.drivers``.

NI-DAQmx board, SCPI source-measure unit (pyvisa) and the serial gate controller.
"""
