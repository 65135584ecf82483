"""seco-mm: SeCo (Sequence Contrastive Learning) as an mmaction2 plugin."""
from setuptools import find_packages, setup


def read_requirements(path='requirements.txt'):
    with open(path) as f:
        lines = (line.split('#')[0].strip() for line in f)
        return [line for line in lines if line and not line.startswith('-')]


setup(
    name='seco-mm',
    version='0.1.0',
    description='SeCo self-supervised video pretraining for mmaction2',
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['seco_mm', 'seco_mm.*']),
    python_requires='>=3.9',
    install_requires=read_requirements(),
    extras_require={'tests': ['pytest==9.2.0']},
    license='Apache-2.0',
)
